"""A demo IP camera: GStreamer's RTSP server streaming a moving test picture.

This script runs under Debian's system interpreter (``/usr/bin/python3``),
not under Spectare's virtualenv: PyGObject (``gi``) and the GStreamer RTSP
server typelib come from Debian packages and cannot be installed with pip.
It therefore imports nothing but the standard library, ``gi`` and its sibling
``rtsp_options.py`` (options and pipelines, standard library only), and must
stay importable by whatever Python 3 Debian ships.
``spectare.demo.camera.DemoCamera`` launches it by file path and talks to it
through a tiny protocol:

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

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from spectare.demo import rtsp_options as options
else:
    # Run by file path under ``python -I``, which keeps this folder off sys.path.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import rtsp_options as options

ROLE = "spectare-demo-viewer"


def _log(message: str) -> None:
    sys.stderr.write(f"{options.PROG}: {message}\n")
    sys.stderr.flush()


def _missing(packages: Sequence[str], detail: str) -> NoReturn:
    """Report missing Debian packages in the machine-readable form and exit."""
    _log(detail)
    _log("install with: apt-get install {}".format(" ".join(packages)))
    sys.stderr.write("MISSING-PACKAGES: {}\n".format(" ".join(packages)))
    sys.stderr.flush()
    sys.exit(options.EXIT_MISSING)


def _import_gi() -> tuple[Any, Any, Any]:
    """Import PyGObject and the typelibs, turning failures into package names."""
    try:
        import gi
    except ImportError as exc:
        _missing(
            ["python3-gi", "gir1.2-gstreamer-1.0", "gir1.2-gst-rtsp-server-1.0"],
            f"cannot import gi (PyGObject) into {sys.executable}: {exc}",
        )
    # GLib's typelib comes with python3-gi itself; these two do not.
    for namespace, package in (
        ("Gst", "gir1.2-gstreamer-1.0"),
        ("GstRtspServer", "gir1.2-gst-rtsp-server-1.0"),
    ):
        try:
            gi.require_version(namespace, "1.0")
        except ValueError as exc:
            _missing([package], f"GObject introspection data for {namespace} missing: {exc}")
    from gi.repository import GLib, Gst, GstRtspServer

    return GLib, Gst, GstRtspServer


class Server:
    """GStreamer's RTSP server with one media factory per distinct mount size."""

    def __init__(self, args: argparse.Namespace, gi_modules: tuple[Any, Any, Any]) -> None:
        self.args = args
        self.GLib, self.Gst, self.Rtsp = gi_modules
        self.launches: dict[options.Size, str] = {}
        self.pay_elements: dict[int, tuple[Any, Any]] = {}  # id(media) -> (media, pay0)
        self.server: Any = None
        self.loop: Any = None
        self.Shared = _shared_factory_class(self.Rtsp)

    def check_elements(self) -> None:
        """Exit naming the packages to install when an element is missing.

        Checked up front: otherwise a missing plugin shows only when the first
        client connects, as an opaque 503 in the client.
        """
        args = self.args
        wanted = sorted(options.ELEMENT_PACKAGES) if args.check else options.required_elements(args)
        missing = [name for name in wanted if self.Gst.ElementFactory.find(name) is None]
        if missing:
            packages = options.missing_element_packages(missing)
            _missing(packages, "GStreamer elements missing: {}".format(", ".join(missing)))

    def build_pipelines(self) -> bool:
        """Build each distinct pipeline once now; False (and why, logged) if one cannot be.

        So a bad ``--pattern`` or property fails at start with GStreamer's own
        message rather than at the first PLAY.
        """
        for _, size in self.args.mounts:
            if size in self.launches:
                continue
            self.launches[size] = options.launch_description(self.args, *size)
            try:
                probe = self.Gst.parse_launch(self.launches[size])
            except self.GLib.Error as exc:
                _log(f"cannot build the stream (check --pattern and sizes): {exc.message}")
                return False
            probe.set_state(self.Gst.State.NULL)
        return True

    def create(self) -> None:
        """The server, its credentials and its mounts (nothing listens yet)."""
        args, rtsp = self.args, self.Rtsp
        self.server = rtsp.RTSPServer()
        self.server.set_address(args.host)
        self.server.set_service(str(args.port))
        permissions = self._require_credentials() if args.username else None
        factories: dict[options.Size, Any] = {}  # by size, when mounts share an encoder
        mounts = self.server.get_mount_points()
        for path, size in args.mounts:
            factory = factories.get(size) if args.share_encoder else None
            if factory is None:
                factory = factories[size] = self._factory(self.launches[size], permissions)
            mounts.add_factory(path, factory)
        self.server.connect("client-connected", self._on_client_connected)

    def _require_credentials(self) -> Any:
        """Clients must present the credentials (HTTP Basic); anyone else gets 401."""
        rtsp = self.Rtsp
        auth = rtsp.RTSPAuth()
        token = rtsp.RTSPToken()
        token.set_string(rtsp.RTSP_TOKEN_MEDIA_FACTORY_ROLE, ROLE)
        basic = rtsp.RTSPAuth.make_basic(self.args.username, self.args.password)
        auth.add_basic(basic, token)
        self.server.set_auth(auth)
        permissions = rtsp.RTSPPermissions()
        permissions.add_permission_for_role(ROLE, rtsp.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
        permissions.add_permission_for_role(ROLE, rtsp.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
        return permissions

    def _factory(self, launch: str, permissions: Any) -> Any:
        rtsp = self.Rtsp
        factory = self.Shared() if self.args.share_encoder else rtsp.RTSPMediaFactory()
        factory.set_launch(launch)
        # Shared: every client of a mount reads the same pipeline, like a
        # camera serving several viewers from one encoder.
        factory.set_shared(True)
        # A live camera cannot seek, but videotestsrc can, and by default
        # every PLAY (ffmpeg sends "Range: npt=0.000-") makes GstRtspServer
        # seek the shared pipeline back to 0: a flush that throws every
        # *other* client's timestamps back to zero as well.  In
        # CLOCK_AND_OFFSET mode the media counts as unseekable, so a new
        # client joins the running stream as with a real camera (the SDP
        # gains a harmless a=ts-refclk:local line, RFC 7273).
        factory.set_publish_clock_mode(rtsp.RTSPPublishClockMode.CLOCK_AND_OFFSET)
        if permissions is not None:
            factory.set_permissions(permissions)
        factory.connect("media-configure", self._on_media_configure)
        return factory

    def _on_media_configure(self, _factory: Any, media: Any) -> None:
        element = media.get_element()
        pay = element.get_by_name("pay0") if element is not None else None
        if pay is not None:
            self.pay_elements[id(media)] = (media, pay)
            media.connect("unprepared", lambda gone: self.pay_elements.pop(id(gone), None))
        if self.args.verbose:
            _log("pipeline started (an encoder is running)")

    def _on_client_connected(self, _server: Any, client: Any) -> None:
        if self.args.keyframe_on_play:
            client.connect("play-request", self._request_keyframe)
        if self.args.verbose:
            connection = client.get_connection()
            peer = connection.get_ip() if connection is not None else "?"
            _log(f"client connected from {peer}")
            client.connect("closed", lambda _client: _log(f"client from {peer} closed"))

    def _request_keyframe(self, _client: Any, ctx: Any) -> None:
        # A client joining a shared stream that is already running would
        # otherwise wait up to a whole GOP for the next keyframe; ask the
        # encoder for one now (an upstream force-key-unit event, which
        # x264enc honours) so every client starts promptly.
        # Only the media this client plays: other mounts keep their GOP.
        media = getattr(ctx, "media", None)
        if media is None and getattr(ctx, "sessmedia", None) is not None:
            media = ctx.sessmedia.get_media()
        entry = self.pay_elements.get(id(media)) if media is not None else None
        targets = [entry] if entry is not None else list(self.pay_elements.values())
        if self.args.verbose:
            _log("client starts playing: keyframe requested")
        gst = self.Gst
        for _media, pay in targets:
            structure = gst.Structure.new_from_string("GstForceKeyUnit, all-headers=(boolean)true")
            pay.send_event(gst.Event.new_custom(gst.EventType.CUSTOM_UPSTREAM, structure))

    def listen(self) -> int | None:
        """Bind and listen now; the bound port, or None (and why, logged) if it cannot."""
        try:
            # create_source binds and listens now and reports why it could not
            # (server.attach() would only log a warning and return 0).  The
            # listening socket gets SO_REUSEADDR (g_socket_bind allow_reuse), so
            # a restart can rebind the port while old connections linger in
            # TIME_WAIT.
            source = self.server.create_source(None)
        except self.GLib.Error as exc:
            _log(f"cannot listen on {self.args.host}:{self.args.port}: {exc.message}")
            return None
        source.attach(None)
        return int(self.server.get_bound_port())

    def run(self) -> None:
        """Serve until SIGTERM, SIGINT or (with --exit-on-stdin-eof) standard input closes."""
        glib = self.GLib
        self.loop = glib.MainLoop()
        glib.unix_signal_add(glib.PRIORITY_HIGH, signal.SIGTERM, self._stop)
        glib.unix_signal_add(glib.PRIORITY_HIGH, signal.SIGINT, self._stop)
        if self.args.exit_on_stdin_eof:
            glib.io_add_watch(
                glib.IOChannel.unix_new(0),
                glib.PRIORITY_DEFAULT,
                glib.IOCondition.IN | glib.IOCondition.HUP | glib.IOCondition.ERR,
                self._on_stdin,
            )
        self.loop.run()
        # Close client connections ourselves so they see an orderly end of stream.
        self.server.client_filter(lambda _server, _client: self.Rtsp.RTSPFilterResult.REMOVE)

    def _stop(self, *_ignored: Any) -> Any:
        self.loop.quit()
        return self.GLib.SOURCE_REMOVE

    def _on_stdin(self, _channel: Any, _condition: Any) -> Any:
        try:
            data = os.read(0, 4096)
        except OSError:
            data = b""
        if data:
            return self.GLib.SOURCE_CONTINUE
        _log("standard input closed; stopping")
        return self._stop()


def _shared_factory_class(rtsp: Any) -> Any:
    """A media factory class whose media is shared by every path it is mounted on.

    GstRtspServer keys shared media by URL path, so one factory mounted on
    /cam1 and /cam2 would still build two pipelines; a constant key makes all
    of them read the one encoder.
    """

    class SharedAcrossMounts(rtsp.RTSPMediaFactory):  # type: ignore[misc]
        def do_gen_key(self, url: Any) -> str:
            return "shared"

    return SharedAcrossMounts


def _announce(args: argparse.Namespace, port: int) -> None:
    """Log every mount for humans, then the one READY line for the parent."""
    host = args.host if args.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    audio = ", audio" if args.audio else ""
    auth = ", auth" if args.username else ""
    for path, (width, height) in args.mounts:
        _log(
            f"serving rtsp://{host}:{port}{path} ({width}x{height}, {args.fps} fps, "
            f"{args.bitrate_kbps} kbit/s{audio}{auth})"
        )
    sys.stdout.write(f"READY rtsp://{host}:{port}\n")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Check, build, listen, announce READY and serve until told to stop."""
    args = options.parse_args(sys.argv[1:] if argv is None else argv)
    gi_modules = _import_gi()
    gi_modules[1].init(None)
    server = Server(args, gi_modules)
    server.check_elements()
    if args.check:
        _log(f"all dependencies present ({gi_modules[1].version_string()})")
        return options.EXIT_OK
    if not server.build_pipelines():
        return options.EXIT_USAGE
    server.create()
    port = server.listen()
    if port is None:
        return options.EXIT_BIND
    _announce(args, port)
    server.run()
    _log("stopped")
    sys.stdout.flush()
    sys.stderr.flush()
    # Leave without interpreter teardown while GStreamer's streaming threads
    # may still be alive (that can crash).
    os._exit(options.EXIT_OK)


if __name__ == "__main__":
    sys.exit(main())
