"""The ``legsup serve`` command: share a folder of exports with phones on the local network.

Parses the options, binds the server (``share.server``), prints the feed's address
on the local network and a QR code of it, then one line per request served, until
Ctrl-C ends it cleanly (exit 0).  ``cli`` registers :func:`serve` and turns a
:class:`~legsup_audio.errors.LegsupError` into its one line; nothing is served here
that ``share.server`` would refuse.
"""

from __future__ import annotations

import errno
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from legsup_audio.errors import UsageError

if TYPE_CHECKING:
    from legsup_audio.share.server import ShareServer

DEFAULT_FOLDER = Path("output")
#: Tried first, so a phone's subscription keeps working from one run to the next;
#: when it is taken, any free port is used instead (and said).
DEFAULT_PORT = 8765
ALL_INTERFACES = ("0.0.0.0", "", "::")

_print_lock = threading.Lock()


def _say(line: str) -> None:
    with _print_lock:
        print(line, flush=True)


def serve(
    directory: Annotated[
        Path | None, typer.Argument(metavar="DIR", help="The folder of exported tracks to share. Default: output/.")
    ] = None,
    host: Annotated[
        str, typer.Option("--host", metavar="ADDRESS", help="The address to listen on. Default: all interfaces (0.0.0.0).")
    ] = "0.0.0.0",
    port: Annotated[
        int | None,
        typer.Option("--port", metavar="PORT", help=f"The port. Default: {DEFAULT_PORT}, or a free one when that is taken; "
                                    "0 for any free port."),
    ] = None,
) -> None:
    """Share exported tracks with phones on this network as a podcast feed (with a QR code to subscribe).

    Apple Podcasts and AntennaPod can follow the feed; new exports into the folder appear in it
    without a restart. Read-only; Ctrl-C stops it.
    """
    from legsup_audio.share.server import lan_address

    folder = directory if directory is not None else DEFAULT_FOLDER
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder: export sessions into it first "
                         f"(legsup export -o {folder}/), or name the folder to share")
    server = _bind(folder, host, port)
    shown = host
    if host in ALL_INTERFACES:
        shown = lan_address() or "127.0.0.1"
        if shown == "127.0.0.1":
            _say("warning: no local network found: only this computer can reach the feed")
    elif ":" in host:
        shown = f"[{host}]"
    base = f"http://{shown}:{server.port}"
    server.public_base = base
    _announce(folder, server, base, port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    _say("stopped")


def _bind(folder: Path, host: str, port: int | None) -> ShareServer:
    from legsup_audio.share.server import make_server

    tries = [DEFAULT_PORT, 0] if port is None else [port]
    for n, chosen in enumerate(tries):
        try:
            return make_server(folder, host, chosen, _say)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE and n + 1 < len(tries):
                continue
            if exc.errno == errno.EADDRINUSE:
                raise UsageError(f"port {chosen} is in use: choose another with --port, or --port 0 for any "
                                 "free port") from None
            raise UsageError(f"cannot listen on {host} port {chosen}: {exc.strerror or exc}; "
                             "check --host (an address of this computer) and --port") from None
    raise AssertionError("unreachable")


def _announce(folder: Path, server: ShareServer, base: str, asked_port: int | None) -> None:
    import segno

    url = base + "/feed.xml"
    tracks = server.folder.tracks()
    if asked_port is None and server.port != DEFAULT_PORT:
        _say(f"port {DEFAULT_PORT} is taken: using {server.port} (a subscription made now needs this port)")
    _say(f"Sharing {folder} ({len(tracks)} track{'' if len(tracks) == 1 else 's'}) as a podcast feed:")
    _say(f"  {url}")
    _say("Add it by URL in Apple Podcasts or AntennaPod on a phone on this network, or scan:")
    with _print_lock:
        segno.make(url, error="m").terminal(out=sys.stdout, compact=True)
        sys.stdout.flush()
    _say("Press Ctrl-C to stop. Requests:")
