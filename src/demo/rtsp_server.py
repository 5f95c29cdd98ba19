"""A demo IP camera: GStreamer's RTSP server streaming a moving test picture.

This script runs under Debian's system interpreter (``/usr/bin/python3``),
not under Spectare's virtualenv: PyGObject (``gi``) and the GStreamer RTSP
server typelib come from Debian packages and cannot be installed with pip.
It therefore imports nothing but the standard library and ``gi``, and must
stay importable by whatever Python 3 Debian ships (no third-party typing
helpers, no Spectare imports).  ``spectare.demo.camera.DemoCamera`` launches
it by file path and talks to it through a tiny protocol:

* On success it prints exactly one line to standard output,
  ``READY rtsp://HOST:PORT``, flushed, once the socket is listening; nothing
  else is ever written to standard output (so a parent that stops reading
  the pipe can never block us).
* Everything for humans goes to standard error.
* When something is missing it prints ``MISSING-PACKAGES: pkg ...`` to
  standard error and exits with status 3; a port it cannot bind gives
  status 4; bad arguments give status 2.
* SIGTERM or SIGINT (and, with ``--exit-on-stdin-eof``, the parent closing
  our standard input, which also happens when the parent dies) stops it
  cleanly with status 0.

Run ``/usr/bin/python3 rtsp_server.py --help`` for the options.
"""

import argparse
import os
import re
import signal
import sys

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_MISSING = 3
EXIT_BIND = 4
EXIT_FAILED = 5

PROG = "spectare-demo-camera"
PASSWORD_ENV = "SPECTARE_DEMO_CAMERA_PASSWORD"

# Which Debian package ships each GStreamer element we use, so a failure can
# say exactly what to install instead of "no element x264enc".
ELEMENT_PACKAGES = {
    "videotestsrc": "gstreamer1.0-plugins-base",
    "audiotestsrc": "gstreamer1.0-plugins-base",
    "x264enc": "gstreamer1.0-plugins-ugly",
    "clockoverlay": "gstreamer1.0-x",
    "textoverlay": "gstreamer1.0-x",
    "h264parse": "gstreamer1.0-plugins-bad",
    "rtph264pay": "gstreamer1.0-plugins-good",
    "alawenc": "gstreamer1.0-plugins-good",
    "rtppcmapay": "gstreamer1.0-plugins-good",
}


def _log(message):
    # type: (str) -> None
    sys.stderr.write("%s: %s\n" % (PROG, message))
    sys.stderr.flush()


def _missing(packages, detail):
    # type: (list, str) -> None
    """Report missing Debian packages in the machine-readable form and exit."""
    _log(detail)
    _log("install with: apt-get install %s" % " ".join(packages))
    sys.stderr.write("MISSING-PACKAGES: %s\n" % " ".join(packages))
    sys.stderr.flush()
    sys.exit(EXIT_MISSING)


def _import_gi():
    """Import PyGObject and the typelibs, turning failures into package names."""
    try:
        import gi  # noqa: F401
    except ImportError as exc:
        _missing(
            ["python3-gi", "gir1.2-gstreamer-1.0", "gir1.2-gst-rtsp-server-1.0"],
            "cannot import gi (PyGObject) into %s: %s" % (sys.executable, exc),
        )
    import gi

    # GLib's typelib comes with python3-gi itself; these two do not.
    for namespace, package in (
        ("Gst", "gir1.2-gstreamer-1.0"),
        ("GstRtspServer", "gir1.2-gst-rtsp-server-1.0"),
    ):
        try:
            gi.require_version(namespace, "1.0")
        except ValueError as exc:
            _missing([package], "GObject introspection data for %s missing: %s" % (namespace, exc))
    from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

    return GLib, Gst, GstRtspServer


# A mount is "/path" or "/path=WIDTHxHEIGHT" (a per-mount size, e.g. for a
# low-resolution substream beside the main stream, as real cameras offer).
_MOUNT_RE = re.compile(r"^(/[A-Za-z0-9._~/-]*)(?:=(\d+)x(\d+))?$")


def parse_mount(spec, default_size):
    # type: (str, tuple) -> tuple
    match = _MOUNT_RE.match(spec)
    if not match or "//" in spec:
        raise argparse.ArgumentTypeError(
            "bad mount %r: want /path or /path=WIDTHxHEIGHT" % (spec,)
        )
    path = match.group(1).rstrip("/") or "/"
    if match.group(2):
        size = (int(match.group(2)), int(match.group(3)))
    else:
        size = default_size
    return path, size


def build_parser():
    # type: () -> argparse.ArgumentParser
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Serve a moving H.264 test picture over RTSP, like an IP camera. "
            "Prints 'READY rtsp://HOST:PORT' on stdout once listening."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    parser.add_argument(
        "--port", type=int, default=8554,
        help="TCP port; 0 picks a free one (printed in the READY line) (default %(default)s)",
    )
    parser.add_argument(
        "--path", dest="paths", action="append", metavar="/PATH[=WxH]",
        help="mount path, repeatable (default /demo); '=WIDTHxHEIGHT' gives that mount its own size",
    )
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--bitrate-kbps", type=int, default=2000, help="H.264 target bitrate (default %(default)s)")
    parser.add_argument("--gop-seconds", type=float, default=2.0, help="keyframe interval (default %(default)s)")
    parser.add_argument(
        "--pattern", default="ball",
        help="videotestsrc pattern (default %(default)s, a moving ball; 'smpte' or 'black' hold still)",
    )
    parser.add_argument(
        "--scene", action="store_true",
        help="a picture that reads as a camera: colours and a running clock "
             "(the 'ball' pattern in colour with a date and time overlay)",
    )
    parser.add_argument(
        "--fill-bitrate", action="store_true",
        help="pad the stream with H.264 filler data up to --bitrate-kbps, as cameras in "
             "strict CBR mode do (the test picture alone compresses to a small fraction "
             "of the target; benchmarks need the real byte and packet rate)",
    )
    parser.add_argument(
        "--audio", action="store_true",
        help="add a G.711 A-law audio track (pay1), as many cameras send",
    )
    parser.add_argument("--username", help="require RTSP Basic auth with this user")
    parser.add_argument(
        "--password",
        help="password for --username (or set %s, which keeps it out of ps)" % PASSWORD_ENV,
    )
    parser.add_argument(
        "--share-encoder", action="store_true",
        help="mounts of the same size share one encoder (cheap many-camera benchmarks: identical streams)",
    )
    parser.add_argument(
        "--no-keyframe-on-play", dest="keyframe_on_play", action="store_false",
        help="do not ask the encoder for a keyframe when a client starts playing",
    )
    parser.add_argument("--threads", type=int, default=0, help="x264 threads (0 = automatic)")
    parser.add_argument(
        "--exit-on-stdin-eof", action="store_true",
        help="stop when standard input closes (a supervising parent has gone away)",
    )
    parser.add_argument(
        "--check", action="store_true",
        help="only check that gi and every GStreamer element (audio too) are installed, then exit",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log clients to stderr")
    return parser


def parse_args(argv):
    # type: (list) -> argparse.Namespace
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error("--port must be 0..65535")
    for name in ("width", "height", "fps", "bitrate_kbps"):
        if getattr(args, name) <= 0:
            parser.error("--%s must be positive" % name.replace("_", "-"))
    if args.width % 2 or args.height % 2:
        parser.error("--width and --height must be even (4:2:0 video)")
    if not re.match(r"^[a-z0-9-]+$", args.pattern):
        # It is pasted into a pipeline description: keep it a plain word.
        parser.error("--pattern must be a videotestsrc pattern name, e.g. ball or smpte")
    if args.gop_seconds <= 0:
        parser.error("--gop-seconds must be positive")
    if args.username and args.password is None:
        args.password = os.environ.get(PASSWORD_ENV)
    if args.username and args.password is None:
        parser.error("--username needs --password")
    if args.password is not None and not args.username:
        parser.error("--password needs --username")
    try:
        args.mounts = [parse_mount(spec, (args.width, args.height)) for spec in (args.paths or ["/demo"])]
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    paths = [path for path, _ in args.mounts]
    if len(set(paths)) != len(paths):
        parser.error("mount paths must be distinct")
    for _, (width, height) in args.mounts:
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            parser.error("mount sizes must be positive and even")
    return args


# A teal background with a warm ball moving across it, and the time as a camera stamps it.
SCENE_COLOURS = " background-color=0xff2a9d8f foreground-color=0xffe76f51 motion=wavy"
SCENE_OVERLAY = (
    ' ! clockoverlay time-format="%Y-%m-%d %H:%M:%S" halignment=left valignment=top'
    ' font-desc="Sans Bold 28" shaded-background=true'
    ' ! textoverlay text="Spectare demo camera" halignment=right valignment=bottom'
    ' font-desc="Sans 20" shaded-background=true'
)


def launch_description(args, width, height):
    # type: (argparse.Namespace, int, int) -> str
    """The gst-launch description of one media (what one encoder produces)."""
    gop_frames = max(1, int(round(args.gop_seconds * args.fps)))
    # Asking for I420 straight from the source avoids a colour conversion.
    raw_caps = "video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1" % (width, height, args.fps)
    video = "videotestsrc is-live=true pattern=%s%s ! %s" % (
        args.pattern, SCENE_COLOURS if args.scene else "", raw_caps)
    if args.scene:
        video += SCENE_OVERLAY
    # ultrafast + zerolatency keeps the CPU cost low and sends each frame as
    # soon as it is encoded; key-int-max makes keyframes come every GOP so a
    # new client starts quickly.  SPS/PPS are repeated before every keyframe
    # so a client joining a shared stream can decode it -- by h264parse, once
    # per access unit.  Not by rtph264pay: it inserts them before every IDR
    # *slice*, and with x264's sliced threads that splits each keyframe in
    # two for ffmpeg (two packets with one timestamp in the recording).
    video += (
        " ! x264enc name=enc tune=zerolatency speed-preset=ultrafast"
        " key-int-max=%d bitrate=%d threads=%d%s"
        " ! video/x-h264,stream-format=byte-stream"
        " ! h264parse config-interval=-1"
        " ! rtph264pay name=pay0 pt=96"
    ) % (
        gop_frames, args.bitrate_kbps, args.threads,
        # x264's HRD signalling in CBR mode with filler NAL units: costs
        # almost no CPU (measured) and makes the bitrate exact.
        " option-string=nal-hrd=cbr:filler=1" if args.fill_bitrate else "",
    )
    parts = [video]
    if args.audio:
        # G.711 A-law, 8 kHz mono, 40 ms per buffer, payload type 8 (PCMA).
        parts.append(
            "audiotestsrc is-live=true wave=sine freq=440 volume=0.2 samplesperbuffer=320"
            " ! audio/x-raw,format=S16LE,rate=8000,channels=1"
            " ! alawenc ! rtppcmapay name=pay1 pt=8"
        )
    return "( %s )" % " ".join(parts)


def required_elements(args):
    # type: (argparse.Namespace) -> list
    names = ["videotestsrc", "x264enc", "h264parse", "rtph264pay"]
    if args.scene:
        names += ["clockoverlay", "textoverlay"]
    if args.audio:
        names += ["audiotestsrc", "alawenc", "rtppcmapay"]
    return names


def main(argv=None):
    # type: (list) -> int
    args = parse_args(sys.argv[1:] if argv is None else argv)
    GLib, Gst, GstRtspServer = _import_gi()
    Gst.init(None)

    # Check every element up front: otherwise a missing plugin shows only
    # when the first client connects, as an opaque 503 in the client.
    wanted = sorted(ELEMENT_PACKAGES) if args.check else required_elements(args)
    missing = [name for name in wanted if Gst.ElementFactory.find(name) is None]
    if missing:
        packages = sorted(set(ELEMENT_PACKAGES.get(name, "gstreamer1.0-plugins-base") for name in missing))
        _missing(packages, "GStreamer elements missing: %s" % ", ".join(missing))
    if args.check:
        _log("all dependencies present (%s)" % Gst.version_string())
        return EXIT_OK

    # Build each distinct pipeline once now, so a bad --pattern or property
    # fails at start with GStreamer's own message rather than at first PLAY.
    launches = {}
    for _, size in args.mounts:
        if size not in launches:
            launches[size] = launch_description(args, size[0], size[1])
            try:
                probe = Gst.parse_launch(launches[size])
            except GLib.Error as exc:
                _log("cannot build the stream (check --pattern and sizes): %s" % (exc.message,))
                return EXIT_USAGE
            probe.set_state(Gst.State.NULL)

    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))

    role = "spectare-demo-viewer"
    permissions = None
    if args.username:
        # Clients must present these credentials (HTTP Basic); anyone else
        # gets 401 because there is no default (anonymous) token.
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, role)
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.username, args.password), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role(role, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
        permissions.add_permission_for_role(role, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)

    class SharedAcrossMounts(GstRtspServer.RTSPMediaFactory):
        """A factory whose media is shared by every path it is mounted on.

        GstRtspServer keys shared media by URL path, so one factory mounted
        on /cam1 and /cam2 would still build two pipelines; a constant key
        makes all of them read the one encoder.
        """

        def do_gen_key(self, url):
            return "shared"

    pay_elements = {}  # id(media) -> pay0 element, for keyframe requests

    def on_media_configure(factory, media):
        element = media.get_element()
        pay = element.get_by_name("pay0") if element is not None else None
        if pay is not None:
            pay_elements[id(media)] = (media, pay)

            def forget(_media):
                pay_elements.pop(id(_media), None)

            media.connect("unprepared", forget)
        if args.verbose:
            _log("pipeline started (an encoder is running)")

    factories = {}  # size -> factory (when sharing)
    mounts = server.get_mount_points()
    for path, size in args.mounts:
        factory = factories.get(size) if args.share_encoder else None
        if factory is None:
            factory = SharedAcrossMounts() if args.share_encoder else GstRtspServer.RTSPMediaFactory()
            factory.set_launch(launches[size])
            # Shared: every client of a mount reads the same pipeline, like a
            # camera serving several viewers from one encoder.
            factory.set_shared(True)
            # A live camera cannot seek, but videotestsrc can, and by default
            # every PLAY (ffmpeg sends "Range: npt=0.000-") makes
            # GstRtspServer seek the shared pipeline back to 0: a flush that
            # throws every *other* client's timestamps back to zero as well.
            # In CLOCK_AND_OFFSET mode the media counts as unseekable, so a
            # new client joins the running stream as with a real camera (the
            # SDP gains a harmless a=ts-refclk:local line, RFC 7273).
            factory.set_publish_clock_mode(GstRtspServer.RTSPPublishClockMode.CLOCK_AND_OFFSET)
            if permissions is not None:
                factory.set_permissions(permissions)
            factory.connect("media-configure", on_media_configure)
            factories[size] = factory
        mounts.add_factory(path, factory)

    def request_keyframe(client, ctx):
        # A client joining a shared stream that is already running would
        # otherwise wait up to a whole GOP for the next keyframe; ask the
        # encoder for one now (an upstream force-key-unit event, which
        # x264enc honours) so every client starts promptly.
        # Only the media this client plays: other mounts keep their GOP.
        media = getattr(ctx, "media", None)
        if media is None and getattr(ctx, "sessmedia", None) is not None:
            media = ctx.sessmedia.get_media()
        entry = pay_elements.get(id(media)) if media is not None else None
        targets = [entry] if entry is not None else list(pay_elements.values())
        if args.verbose:
            _log("client starts playing: keyframe requested")
        for _media, pay in targets:
            pay.send_event(Gst.Event.new_custom(
                Gst.EventType.CUSTOM_UPSTREAM,
                Gst.Structure.new_from_string("GstForceKeyUnit, all-headers=(boolean)true"),
            ))

    def on_client_connected(_server, client):
        if args.keyframe_on_play:
            client.connect("play-request", request_keyframe)
        if args.verbose:
            connection = client.get_connection()
            peer = connection.get_ip() if connection is not None else "?"
            _log("client connected from %s" % (peer,))
            client.connect("closed", lambda _c: _log("client from %s closed" % (peer,)))

    server.connect("client-connected", on_client_connected)

    try:
        # create_source binds and listens now and reports why it could not
        # (server.attach() would only log a warning and return 0).  The
        # listening socket gets SO_REUSEADDR (g_socket_bind allow_reuse), so
        # a restart can rebind the port while old connections linger in
        # TIME_WAIT.
        source = server.create_source(None)
    except GLib.Error as exc:
        _log("cannot listen on %s:%s: %s" % (args.host, args.port, exc.message))
        return EXIT_BIND
    source.attach(None)
    port = server.get_bound_port()

    loop = GLib.MainLoop()

    def stop(*_ignored):
        loop.quit()
        return GLib.SOURCE_REMOVE

    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGTERM, stop)
    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGINT, stop)

    if args.exit_on_stdin_eof:
        def on_stdin(channel, condition):
            try:
                data = os.read(0, 4096)
            except OSError:
                data = b""
            if not data:
                _log("standard input closed; stopping")
                loop.quit()
                return GLib.SOURCE_REMOVE
            return GLib.SOURCE_CONTINUE

        GLib.io_add_watch(
            GLib.IOChannel.unix_new(0),
            GLib.PRIORITY_DEFAULT,
            GLib.IOCondition.IN | GLib.IOCondition.HUP | GLib.IOCondition.ERR,
            on_stdin,
        )

    shown_host = args.host if args.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    if ":" in shown_host:
        shown_host = "[%s]" % shown_host
    for path, size in args.mounts:
        _log("serving rtsp://%s:%d%s (%dx%d, %d fps, %d kbit/s%s%s)" % (
            shown_host, port, path, size[0], size[1], args.fps, args.bitrate_kbps,
            ", audio" if args.audio else "", ", auth" if args.username else ""))
    sys.stdout.write("READY rtsp://%s:%d\n" % (shown_host, port))
    sys.stdout.flush()

    loop.run()

    # Close client connections ourselves so they see an orderly end of
    # stream, then leave without running interpreter teardown while
    # GStreamer's streaming threads may still be alive (that can crash).
    server.client_filter(lambda _server, _client: GstRtspServer.RTSPFilterResult.REMOVE)
    _log("stopped")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_OK)
    return EXIT_OK  # not reached


if __name__ == "__main__":
    sys.exit(main())
