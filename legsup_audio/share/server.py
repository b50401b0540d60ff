"""A small read-only HTTP server for one shared folder: the feed, the tracks, their chapters and covers.

Owns the HTTP side of ``legsup serve``: routing (``/feed.xml``, ``/chapters/NAME.json``,
``/cover/NAME.png``, ``/NAME`` for a file the :class:`~legsup_audio.share.library.Folder`
says may be served, and a one-line page at ``/``), single byte ranges (``206``,
``416``), ``HEAD``, ``ETag``/``If-None-Match``/``If-Range``, ``405`` for every other
method, and one log line per request.  A request names a file only by looking its
decoded name up among the folder's servable files, so no spelling of ``..``, no
absolute path and no symlink out of the folder reaches anything else; the file
opened is checked to be the one that was found.  Each connection has its own thread
(``ThreadingHTTPServer``, daemon threads, an idle timeout); a client that leaves
mid-download ends only its own thread.  It never writes anything.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from legsup_audio.errors import one_line
from legsup_audio.share import feed
from legsup_audio.share.library import FileRef, Folder

#: Seconds an idle (keep-alive) connection is kept open.
IDLE_TIMEOUT_S = 30
ALLOWED = "GET, HEAD"
#: A request's Host header is used for the feed's URLs only when it looks like host[:port].
_HOST = re.compile(r"(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?")
_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)")
#: Errors that mean the client went away (or stalled past the timeout) mid-response.
CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)

Log = Callable[[str], None]


class Unsatisfiable(Exception):
    """A Range that selects no byte of the file (answered ``416``)."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one byte range ``header`` asks for, as (first, last) inclusive, or None for the whole file.

    Only a single range is honoured: a malformed header or several ranges get the whole
    file (RFC 9110 lets a server ignore Range).  A range that starts past the end, or an
    empty suffix, raises :class:`Unsatisfiable`.
    """
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip().replace(" ", ""))
    if match is None:
        return None
    first, last = match[1], match[2]
    if not first:
        if not last:
            return None
        n = int(last)
        if n == 0 or size == 0:
            raise Unsatisfiable
        return max(0, size - n), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # invalid: ignored
    if start >= size:
        raise Unsatisfiable
    return start, min(end, size - 1)


def etag_matches(header: str, etag: str) -> bool:
    """``If-None-Match``: weak comparison against a list of tags, or ``*``."""
    tags = [t.strip() for t in header.split(",")]
    return "*" in tags or any(t.removeprefix("W/") == etag for t in tags)


class ShareServer(ThreadingHTTPServer):
    """Serves one :class:`Folder`; ``log`` receives one line per request."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], folder: Folder, log: Log, public_base: str | None = None) -> None:
        self.folder = folder
        self.log = log
        self.public_base = public_base
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's fully qualified name, which can send a DNS
        # query: bind only, and name the server by the address it was given.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, CLIENT_GONE):
            return  # a client that leaves is not an error of ours
        super().handle_error(request, client_address)


class _Body:
    """What a response sends: a byte string or an open file, of a known size."""

    def __init__(self, size: int, etag: str, content_type: str, modified: float,
                 data: bytes | None = None, file: Any = None) -> None:
        self.size, self.etag, self.content_type, self.modified = size, etag, content_type, modified
        self.data, self.file = data, file

    @classmethod
    def of(cls, data: bytes, content_type: str, modified: float | None = None) -> _Body:
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        return cls(len(data), etag, content_type, modified or time.time(), data=data)


class Handler(BaseHTTPRequestHandler):
    server: ShareServer
    protocol_version = "HTTP/1.1"
    server_version = "legsup-audio"
    sys_version = ""
    timeout = IDLE_TIMEOUT_S

    # ------------------------------------------------------------------ methods

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def __getattr__(self, name: str) -> Any:
        # BaseHTTPRequestHandler looks up ``do_<METHOD>``: every method but GET and HEAD is not allowed.
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)

    def _not_allowed(self) -> None:
        body = b"Method not allowed: this server only reads (GET, HEAD).\n"
        self.close_connection = True  # a request body may follow: never read it as the next request
        self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
        self.send_header("Allow", ALLOWED)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self._write(body)
        self._log(HTTPStatus.METHOD_NOT_ALLOWED, len(body))

    # ------------------------------------------------------------------ routing

    def _answer(self, send_body: bool) -> None:
        try:
            body = self._route()
        except OSError as exc:  # the folder itself went away or became unreadable
            self.log_message("cannot read the shared folder: %s", exc.strerror or exc)
            body = None
        if body is None:
            self._not_found(send_body)
            return
        try:
            self._send(body, send_body)
        finally:
            if body.file is not None:
                body.file.close()

    def _route(self) -> _Body | None:
        target = self.path
        if target.lower().startswith(("http://", "https://")):
            target = urlsplit(target).path or "/"  # absolute-form request target
        path = target.split("?", 1)[0].split("#", 1)[0]
        if not path.startswith("/"):
            return None
        folder = self.server.folder
        if path == "/":
            return _Body.of(self._index_page(), "text/html; charset=utf-8")
        if path == feed.FEED_PATH:
            tracks = folder.tracks()
            newest = max((t.file.mtime_ns for t in tracks), default=0) / 1e9
            return _Body.of(feed.feed_xml(tracks, self._base(), folder.root.name),
                            "application/rss+xml; charset=utf-8", newest or None)
        parts = path[1:].split("/")
        if len(parts) == 2 and path.startswith(feed.CHAPTERS_PREFIX) and parts[1].endswith(".json"):
            track = folder.track(unquote(parts[1][: -len(".json")]))
            if track is None or not track.chapters:
                return None
            return _Body.of(feed.chapters_json(track), "application/json; charset=utf-8", track.file.mtime_ns / 1e9)
        if len(parts) == 2 and path.startswith(feed.COVER_PREFIX):
            name, suffix = os.path.splitext(unquote(parts[1]))
            track = folder.track(name)
            if track is None or track.cover is None or track.cover_suffix != suffix:
                return None
            return _Body.of(track.cover, track.cover_mime or "image/png", track.file.mtime_ns / 1e9)
        if len(parts) == 1:
            ref = folder.files().get(unquote(parts[0]))
            return None if ref is None else _open(ref)
        return None

    def _base(self) -> str:
        host = self.headers.get("Host", "")
        if _HOST.fullmatch(host):
            return f"http://{host}"
        return self.server.public_base or f"http://127.0.0.1:{self.server.port}"

    def _index_page(self) -> bytes:
        url = self._base() + feed.FEED_PATH
        return (f"<!doctype html><meta charset=utf-8><title>legsup-audio</title>"
                f"<p>Subscribe to <a href=\"{url}\">{url}</a> in a podcast app.</p>\n").encode("utf-8")

    # ------------------------------------------------------------------ responses

    def _send(self, body: _Body, send_body: bool) -> None:
        inm = self.headers.get("If-None-Match")
        if inm is not None and etag_matches(inm, body.etag):
            self.send_response(HTTPStatus.NOT_MODIFIED)
            self._validators(body)
            self.send_header("Content-Length", "0")
            self.end_headers()
            self._log(HTTPStatus.NOT_MODIFIED, 0)
            return
        wanted = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if if_range is not None and if_range.strip() not in (body.etag, self._last_modified(body)):
            wanted = None  # the client's copy is of another version: send the whole file
        try:
            span = parse_range(wanted, body.size)
        except Unsatisfiable:
            self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{body.size}")
            self._validators(body)
            self.send_header("Content-Length", "0")
            self.end_headers()
            self._log(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, 0)
            return
        start, end = span if span is not None else (0, body.size - 1)
        length = max(0, end - start + 1)
        status = HTTPStatus.PARTIAL_CONTENT if span is not None else HTTPStatus.OK
        self.send_response(status)
        self.send_header("Content-Type", body.content_type)
        self.send_header("Content-Length", str(length))
        if span is not None:
            self.send_header("Content-Range", f"bytes {start}-{end}/{body.size}")
        self._validators(body)
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        sent = self._send_bytes(body, start, length) if send_body else 0
        self._log(status, sent, f" {start}-{end}/{body.size}" if span is not None else "")

    def _validators(self, body: _Body) -> None:
        self.send_header("ETag", body.etag)
        self.send_header("Last-Modified", self._last_modified(body))
        self.send_header("Accept-Ranges", "bytes")

    @staticmethod
    def _last_modified(body: _Body) -> str:
        return formatdate(body.modified, usegmt=True)

    def _send_bytes(self, body: _Body, start: int, length: int) -> int:
        """Send ``length`` bytes from ``start``; the count sent (less when the client left)."""
        sent = 0
        try:
            if body.data is not None:
                self.wfile.write(body.data[start:start + length])
                sent = length
            else:
                while sent < length:
                    n = self.connection.sendfile(body.file, start + sent, length - sent)
                    if n == 0:
                        break  # the file shrank under us: close rather than send a short body
                    sent += n
        except CLIENT_GONE:
            pass
        except OSError as exc:
            if exc.errno not in (errno.EPIPE, errno.ECONNRESET):
                raise
        if sent < length:
            self.close_connection = True
        return sent

    def _not_found(self, send_body: bool) -> None:
        body = b"Not found.\n"
        self.send_response(HTTPStatus.NOT_FOUND)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self._write(body)
        self._log(HTTPStatus.NOT_FOUND, len(body) if send_body else 0)

    def _write(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
        except CLIENT_GONE:
            self.close_connection = True

    # ------------------------------------------------------------------ logging

    def _log(self, status: int, sent: int, detail: str = "") -> None:
        who = self.client_address[0] if self.client_address else "?"
        self.server.log(f"{time.strftime('%H:%M:%S')} {who} {self.command} {one_line(self.path[:300])} "
                        f"{int(status)}{detail} {sent} bytes")

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # each response logs itself once it is sent, with the bytes it sent

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        message = format % args
        if message.startswith("Request timed out"):
            return  # an idle keep-alive connection closing
        who = self.client_address[0] if self.client_address else "?"
        self.server.log(f"{time.strftime('%H:%M:%S')} {who} {one_line(message[:300])}")


def _open(ref: FileRef) -> _Body | None:
    """Open ``ref``'s file, if it is still the file that was found (not swapped for a link or another file)."""
    try:
        fd = os.open(ref.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    st = os.fstat(fd)
    if (st.st_dev, st.st_ino) != (ref.device, ref.inode):
        os.close(fd)
        return None
    etag = f'"{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}"'
    return _Body(st.st_size, etag, ref.content_type, st.st_mtime_ns / 1e9, file=os.fdopen(fd, "rb"))


def make_server(folder: Path, host: str, port: int, log: Log, public_base: str | None = None) -> ShareServer:
    """A server bound to ``host:port`` (0: any free port) for ``folder``; call ``serve_forever``."""
    return ShareServer((host, port), Folder(folder), log, public_base)


def serve_in_thread(server: ShareServer) -> threading.Thread:
    """Run ``server`` on a daemon thread (for tests and embedding); stop it with ``server.shutdown()``."""
    thread = threading.Thread(target=server.serve_forever, name="legsup-serve", daemon=True)
    thread.start()
    return thread


def lan_address() -> str | None:
    """This computer's address on its local network, or None when it has none.

    Asks the kernel which source address it would use to reach 192.0.2.1 (TEST-NET-1,
    RFC 5737, routed like any internet address, so through the default route's
    interface): ``connect()`` on a UDP socket only picks the route and sends nothing.
    """
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))
            address = str(probe.getsockname()[0])
    except OSError:
        return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address
