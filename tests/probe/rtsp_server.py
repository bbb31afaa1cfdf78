"""An RTSP camera stand-in: Debian's GStreamer RTSP server library (gir1.2-gst-rtsp-server-1.0) serving a
live test picture.  Run with the system python3 (python3-gi):

    python3 rtsp_server.py ADDRESS PORT PATH [USER PASSWORD]

With USER and PASSWORD the stream needs HTTP Basic authentication; without them anyone may watch it.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

PIPELINE = ("( videotestsrc is-live=true ! video/x-raw,format=I420,width=64,height=48,framerate=5/1 "
            "! rtpvrawpay name=pay0 pt=96 )")


def main() -> None:
    address, port, path = sys.argv[1:4]
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(address)
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(PIPELINE)
    factory.set_shared(True)
    if len(sys.argv) == 6:
        user, password = sys.argv[4:6]
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "viewer")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role("viewer", "media.factory.access", True)
        permissions.add_permission_for_role("viewer", "media.factory.construct", True)
        factory.set_permissions(permissions)
    server.get_mount_points().add_factory(path, factory)
    if server.attach(None) == 0:
        sys.exit("cannot listen")
    print(f"listening on {address}:{port}{path}", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
