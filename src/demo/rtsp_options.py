"""The demo RTSP server's options and the GStreamer pipeline they describe.

Shared by both sides of the demo camera: ``rtsp_server.py`` (run by file path
under Debian's interpreter, which imports this file as a sibling) and
``camera.py`` (in Spectare's own Python). Standard library only, and pure: it
parses and checks options and writes pipeline descriptions, it runs nothing.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Sequence

PROG = "spectare-demo-camera"
PASSWORD_ENV = "SPECTARE_DEMO_CAMERA_PASSWORD"

# Exit statuses of rtsp_server.py: what DemoCamera tells its user.
EXIT_OK = 0
EXIT_USAGE = 2
EXIT_MISSING = 3
EXIT_BIND = 4

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

Size = tuple[int, int]

# A mount is "/path" or "/path=WIDTHxHEIGHT" (a per-mount size, e.g. for a
# low-resolution substream beside the main stream, as real cameras offer).
_MOUNT_RE = re.compile(r"^(/[A-Za-z0-9._~/-]*)(?:=(\d+)x(\d+))?$")

# A teal background with a warm ball moving across it, and the time as a camera stamps it.
SCENE_COLOURS = " background-color=0xff2a9d8f foreground-color=0xffe76f51 motion=wavy"
SCENE_OVERLAY = (
    ' ! clockoverlay time-format="%Y-%m-%d %H:%M:%S" halignment=left valignment=top'
    ' font-desc="Sans Bold 28" shaded-background=true'
    ' ! textoverlay text="Spectare demo camera" halignment=right valignment=bottom'
    ' font-desc="Sans 20" shaded-background=true'
)


def parse_mount(spec: str, default_size: Size) -> tuple[str, Size]:
    """``(path, (width, height))`` of a mount spec ``/path`` or ``/path=WIDTHxHEIGHT``."""
    match = _MOUNT_RE.match(spec)
    if not match or "//" in spec:
        raise argparse.ArgumentTypeError(f"bad mount {spec!r}: want /path or /path=WIDTHxHEIGHT")
    path = match.group(1).rstrip("/") or "/"
    if match.group(2):
        return path, (int(match.group(2)), int(match.group(3)))
    return path, default_size


def build_parser() -> argparse.ArgumentParser:
    """The server's command line."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Serve a moving H.264 test picture over RTSP, like an IP camera. "
        "Prints 'READY rtsp://HOST:PORT' on stdout once listening.",
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    add(
        "--port",
        type=int,
        default=8554,
        help="TCP port; 0 picks a free one (printed in the READY line) (default %(default)s)",
    )
    add(
        "--path",
        dest="paths",
        action="append",
        metavar="/PATH[=WxH]",
        help="mount path, repeatable (default /demo); '=WIDTHxHEIGHT' gives that mount its "
        "own size",
    )
    add("--width", type=int, default=1280)
    add("--height", type=int, default=720)
    add("--fps", type=int, default=15)
    add("--bitrate-kbps", type=int, default=2000, help="H.264 target bitrate (default %(default)s)")
    add("--gop-seconds", type=float, default=2.0, help="keyframe interval (default %(default)s)")
    add(
        "--pattern",
        default="ball",
        help="videotestsrc pattern (default %(default)s, a moving ball; 'smpte' or 'black' hold "
        "still)",
    )
    add(
        "--scene",
        action="store_true",
        help="a picture that reads as a camera: colours and a running clock "
        "(the 'ball' pattern in colour with a date and time overlay)",
    )
    add(
        "--fill-bitrate",
        action="store_true",
        help="pad the stream with H.264 filler data up to --bitrate-kbps, as cameras in "
        "strict CBR mode do (the test picture alone compresses to a small fraction "
        "of the target; benchmarks need the real byte and packet rate)",
    )
    add(
        "--audio",
        action="store_true",
        help="add a G.711 A-law audio track (pay1), as many cameras send",
    )
    add("--username", help="require RTSP Basic auth with this user")
    add(
        "--password",
        help=f"password for --username (or set {PASSWORD_ENV}, which keeps it out of ps)",
    )
    add(
        "--share-encoder",
        action="store_true",
        help="mounts of the same size share one encoder (cheap many-camera benchmarks: "
        "identical streams)",
    )
    add(
        "--no-keyframe-on-play",
        dest="keyframe_on_play",
        action="store_false",
        help="do not ask the encoder for a keyframe when a client starts playing",
    )
    add("--threads", type=int, default=0, help="x264 threads (0 = automatic)")
    add(
        "--exit-on-stdin-eof",
        action="store_true",
        help="stop when standard input closes (a supervising parent has gone away)",
    )
    add(
        "--check",
        action="store_true",
        help="only check that gi and every GStreamer element (audio too) are installed, then exit",
    )
    add("-v", "--verbose", action="store_true", help="log clients to stderr")
    return parser  # fmt: skip


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse and check the options; ``args.mounts`` is ``[(path, (width, height)), ...]``."""
    parser = build_parser()
    args = parser.parse_args(list(argv))
    if not 0 <= args.port <= 65535:
        parser.error("--port must be 0..65535")
    for name in ("width", "height", "fps", "bitrate_kbps"):
        if getattr(args, name) <= 0:
            parser.error("--{} must be positive".format(name.replace("_", "-")))
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
        size = (args.width, args.height)
        args.mounts = [parse_mount(spec, size) for spec in (args.paths or ["/demo"])]
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    paths = [path for path, _ in args.mounts]
    if len(set(paths)) != len(paths):
        parser.error("mount paths must be distinct")
    for _, (width, height) in args.mounts:
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            parser.error("mount sizes must be positive and even")
    return args


def launch_description(args: argparse.Namespace, width: int, height: int) -> str:
    """The gst-launch description of one media (what one encoder produces)."""
    gop_frames = max(1, round(args.gop_seconds * args.fps))
    # Asking for I420 straight from the source avoids a colour conversion.
    raw_caps = f"video/x-raw,format=I420,width={width},height={height},framerate={args.fps}/1"
    colours = SCENE_COLOURS if args.scene else ""
    video = f"videotestsrc is-live=true pattern={args.pattern}{colours} ! {raw_caps}"
    if args.scene:
        video += SCENE_OVERLAY
    # x264's HRD signalling in CBR mode with filler NAL units: costs almost no
    # CPU (measured) and makes the bitrate exact.
    filler = " option-string=nal-hrd=cbr:filler=1" if args.fill_bitrate else ""
    # ultrafast + zerolatency keeps the CPU cost low and sends each frame as
    # soon as it is encoded; key-int-max makes keyframes come every GOP so a
    # new client starts quickly.  SPS/PPS are repeated before every keyframe
    # so a client joining a shared stream can decode it -- by h264parse, once
    # per access unit.  Not by rtph264pay: it inserts them before every IDR
    # *slice*, and with x264's sliced threads that splits each keyframe in
    # two for ffmpeg (two packets with one timestamp in the recording).
    video += (
        " ! x264enc name=enc tune=zerolatency speed-preset=ultrafast"
        f" key-int-max={gop_frames} bitrate={args.bitrate_kbps} threads={args.threads}{filler}"
        " ! video/x-h264,stream-format=byte-stream"
        " ! h264parse config-interval=-1"
        " ! rtph264pay name=pay0 pt=96"
    )
    parts = [video]
    if args.audio:
        # G.711 A-law, 8 kHz mono, 40 ms per buffer, payload type 8 (PCMA).
        parts.append(
            "audiotestsrc is-live=true wave=sine freq=440 volume=0.2 samplesperbuffer=320"
            " ! audio/x-raw,format=S16LE,rate=8000,channels=1"
            " ! alawenc ! rtppcmapay name=pay1 pt=8"
        )
    return "( {} )".format(" ".join(parts))


def required_elements(args: argparse.Namespace) -> list[str]:
    """The GStreamer elements these options need."""
    names = ["videotestsrc", "x264enc", "h264parse", "rtph264pay"]
    if args.scene:
        names += ["clockoverlay", "textoverlay"]
    if args.audio:
        names += ["audiotestsrc", "alawenc", "rtppcmapay"]
    return names


def missing_element_packages(missing: Sequence[str]) -> list[str]:
    """The Debian packages that ship the ``missing`` elements."""
    return sorted({ELEMENT_PACKAGES.get(name, "gstreamer1.0-plugins-base") for name in missing})
