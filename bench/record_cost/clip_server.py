"""An RTSP server on 127.0.0.1 that plays one pre-encoded H.264 clip (Matroska) in real
time on every mount ``/cam0`` .. ``/camN``; each client gets its own reader from the
clip's start, and nothing is encoded while the bench runs. Run by the system's Python
(GStreamer bindings):

    python3 clip_server.py CLIP.mkv PORT CAMERAS
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main():
    clip, port, cameras = sys.argv[1], sys.argv[2], int(sys.argv[3])
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    mounts = server.get_mount_points()
    launch = (
        f'( filesrc location="{clip}" ! matroskademux ! h264parse '
        "! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    )
    for i in range(cameras):
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch)
        factory.set_shared(False)
        mounts.add_factory(f"/cam{i}", factory)
    server.attach(None)
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
