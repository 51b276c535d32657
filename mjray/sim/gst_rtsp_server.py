"""RTSP server process: serves looped H.264 files (and optional live test patterns) like IP cameras.

Runs under the system Python that has GStreamer's bindings (`python3-gi`,
`gir1.2-gst-rtsp-server-1.0`), not inside mjray's virtual environment, so it imports nothing
but the standard library and `gi`. `mjray.sim.server.RtspServer` starts and stops it.

Each `--mount PATH=FILE` is one camera: a shared media (every client sees the same live stream,
as with a real camera) that loops the file forever. h264parse gives a raw .264 stream decode
timestamps only, so a pad probe stamps every access unit with a running PTS = DTS = n / fps:
timestamps increase monotonically across loops and the server paces output in real time.
`--pattern PATH` adds a live `videotestsrc` encoded on the fly. The server binds 127.0.0.1 by
default and prints `READY <port>` once listening. With `MJRAY_RTSP_AUTH=user:password` in its
environment it asks every client for RTSP basic authentication, as IP cameras do (GStreamer's
`RTSPAuth`): a wrong password gets 401 Unauthorized.
"""

import argparse
import os
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def _stamp_probe(fps):
    duration = Gst.SECOND // fps
    state = {"n": 0}

    def probe(pad, info):
        buf = info.get_buffer()
        if buf is None:
            return Gst.PadProbeReturn.OK
        buf.pts = buf.dts = state["n"] * duration
        buf.duration = duration
        state["n"] += 1
        return Gst.PadProbeReturn.OK

    return probe


class LoopedFile(GstRtspServer.RTSPMediaFactory):
    def __init__(self, path, fps):
        super().__init__()
        self.fps = fps
        self.set_launch(
            f'( multifilesrc location="{path}" loop=true '
            f"caps=video/x-h264,stream-format=byte-stream,framerate={fps}/1 "
            "! h264parse name=parse config-interval=-1 ! video/x-h264,alignment=au "
            "! rtph264pay name=pay0 pt=96 config-interval=-1 )"
        )
        self.set_shared(True)
        self.set_stop_on_disconnect(False)  # a camera keeps running when its viewers leave
        self.set_suspend_mode(GstRtspServer.RTSPSuspendMode.NONE)
        self.connect("media-configure", self._configure)

    def _configure(self, factory, media):
        parse = media.get_element().get_by_name("parse")
        parse.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, _stamp_probe(self.fps))


def pattern_factory(width, height, fps):
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f"( videotestsrc is-live=true pattern=ball ! video/x-raw,width={width},height={height},framerate={fps}/1 "
        f"! x264enc tune=zerolatency speed-preset=veryfast key-int-max={fps} bframes=0 "
        "! video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    )
    factory.set_shared(True)
    return factory


def require_basic_auth(server, factories, credentials):
    """Every path asks for `user:password` (RTSP basic auth); no anonymous access."""
    user, _, password = credentials.partition(":")
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string("media.factory.role", "viewer")
    auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
    server.set_auth(auth)
    for factory in factories:
        factory.add_role_from_structure(
            Gst.Structure.new_from_string(
                "viewer, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
            )
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8554, help="0 picks a free port")
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--mount", action="append", default=[], metavar="PATH=FILE")
    parser.add_argument("--pattern", action="append", default=[], metavar="PATH", help="live test pattern")
    parser.add_argument("--size", default="640x360", help="size of live test patterns")
    args = parser.parse_args(argv)

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    factories = []
    for spec in args.mount:
        path, _, location = spec.partition("=")
        factories.append(LoopedFile(location, args.fps))
        mounts.add_factory("/" + path.strip("/"), factories[-1])
    width, height = (int(v) for v in args.size.split("x"))
    for path in args.pattern:
        factories.append(pattern_factory(width, height, args.fps))
        mounts.add_factory("/" + path.strip("/"), factories[-1])
    if os.environ.get("MJRAY_RTSP_AUTH"):
        require_basic_auth(server, factories, os.environ["MJRAY_RTSP_AUTH"])
    if server.attach(None) == 0:
        print(f"ERROR cannot listen on {args.host}:{args.port}", flush=True)
        return 1
    print(f"READY {server.get_bound_port()}", flush=True)

    loop = GLib.MainLoop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
