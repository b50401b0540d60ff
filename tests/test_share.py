"""`legsup serve`: a real server on 127.0.0.1, real exports, real HTTP clients.

The folder holds real exports (fake speech engine, real ffmpeg) in MP3, M4A, M4B and
Ogg with their captions, plus an 8 MB WAV of random bytes for the download tests.  A
server runs in this process on an ephemeral port of 127.0.0.1 (and, in the last
tests, the real ``legsup serve`` command in a subprocess); requests go through
``http.client`` or a raw socket, so paths reach the server exactly as written.
Nothing here connects anywhere but 127.0.0.1.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import queue
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import wave
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from audio_checks import ffprobe_chapters, probe
import segno

import legsup_audio.script.resources as resources
from legsup_audio.output.export import export_session
from legsup_audio.pipeline import build
from legsup_audio.share.feed import ITUNES, PODCAST
from legsup_audio.share.server import ShareServer, Unsatisfiable, lan_address, make_server, parse_range, serve_in_thread
from legsup_audio.compile.timeline import Timeline

from conftest import FAKE_PROFILE

SCRIPT = """\
title: Evening Rest
author: Sam the Teacher
album: Bedtime Sessions
lead_in: 0.6s
tail: 0.4s
gap: 0.3s
steps:
  - title: Getting down
    cues:
      - Find a wall.
  - title: Breathing
    duration: 2s
    cues:
      - In and out.
  - title: Rest
    cues:
      - Rest now.
"""
#: The export names: a space and a non-ASCII letter test the URLs' quoting.
TRACKS = {"mp3": "a evening.mp3", "m4a": "b-évening.m4a", "m4b": "c evening.m4b", "ogg": "d evening.ogg"}
MARKER = b"SECRET-OUTSIDE-THE-SHARED-FOLDER"
TOLERANCE_S = 0.050
ITUNES_TAGS = {"author", "block", "category", "complete", "duration", "email", "episode", "episodeType",
               "explicit", "image", "keywords", "name", "new-feed-url", "owner", "season", "subtitle",
               "summary", "title", "type"}
PODCAST_TAGS = {"chapters", "transcript", "locked", "funding", "guid", "person", "season", "episode",
                "soundbite", "license", "medium", "trailer", "images", "txt", "updateFrequency", "block"}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """cwd with fake voices; ``share/`` with the exports; ``secret.mp3`` and links outside it."""
    root = tmp_path_factory.mktemp("share")
    work = root / "work"
    (work / "voices").mkdir(parents=True)
    (work / "voices" / "default.yaml").write_text(FAKE_PROFILE, encoding="utf-8")
    (work / "session.yaml").write_text(SCRIPT, encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LEGSUP_CACHE_DIR", str(root / "cache"))
        mp.setattr(resources, "builtin_dir", lambda kind: root / "no-builtins" / kind)
        mp.chdir(work)
        session = build(work / "session.yaml")
        share = root / "share"
        for fmt, name in TRACKS.items():
            export_session(session, share / name, fmt=fmt)
        big = share / "big.wav"
        with wave.open(str(big), "wb") as w:
            w.setnchannels(2)
            w.setsampwidth(2)
            w.setframerate(44100)
            w.writeframes(random.Random(7).randbytes(8 << 20))
        secret = root / "secret.mp3"
        secret.write_bytes((share / TRACKS["mp3"]).read_bytes() + MARKER)
        (share / ".hidden.mp3").write_bytes(MARKER)
        (share / "sub").mkdir()
        (share / "sub" / "inner.mp3").write_bytes(MARKER)
        (share / "leak.mp3").symlink_to(secret)
        (share / "leak-dir").symlink_to(root)
        (share / "notes.txt").write_bytes(MARKER)
        yield {"root": root, "share": share, "secret": secret, "timeline": session.timeline, "session": session,
               "cache": root / "cache", "work": work}


@pytest.fixture(scope="module")
def server(world: dict[str, Any]) -> Iterator[ShareServer]:
    lines: list[str] = []
    srv = make_server(world["share"], "127.0.0.1", 0, lines.append)
    srv.lines = lines  # type: ignore[attr-defined]
    thread = serve_in_thread(srv)
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def get(port: int, path: str, method: str = "GET", headers: dict[str, str] | None = None,
        body: bytes | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def raw(port: int, request: bytes) -> tuple[int, bytes]:
    """Send ``request`` byte for byte; the status and everything the server sent."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    data = b"".join(chunks)
    return int(data.split(b" ", 2)[1]), data


def feed(port: int) -> ET.Element:
    status, _, body = get(port, "/feed.xml")
    assert status == 200
    return ET.fromstring(body)


def local_path(url: str, port: int) -> str:
    prefix = f"http://127.0.0.1:{port}"
    assert url.startswith(prefix), url
    return url[len(prefix):]


def items(port: int) -> list[ET.Element]:
    return feed(port).findall("./channel/item")


# --------------------------------------------------------------------------- the feed


def test_the_feed_is_rss_2_with_the_itunes_and_podcast_namespaces(server: ShareServer, world: dict) -> None:
    status, headers, body = get(server.port, "/feed.xml")
    assert status == 200 and headers["Content-Type"].startswith("application/rss+xml")
    assert f'xmlns:itunes="{ITUNES}"'.encode() in body and f'xmlns:podcast="{PODCAST}"'.encode() in body
    assert ITUNES == "http://www.itunes.com/dtds/podcast-1.0.dtd"
    assert PODCAST == "https://podcastindex.org/namespace/1.0"
    rss = ET.fromstring(body)
    assert rss.tag == "rss" and rss.get("version") == "2.0"
    for element in rss.iter():
        ns, _, name = element.tag[1:].partition("}") if element.tag.startswith("{") else ("", "", element.tag)
        assert ns in ("", ITUNES, PODCAST), element.tag
        if ns == ITUNES:
            assert name in ITUNES_TAGS, name
        if ns == PODCAST:
            assert name in PODCAST_TAGS, name
    channel = rss.find("channel")
    assert channel is not None
    for required in ("title", "link", "description"):
        assert (channel.findtext(required) or "").strip(), required
    assert channel.findtext("title") == "Bedtime Sessions"  # the tracks' album
    assert channel.findtext(f"{{{ITUNES}}}author") == "Sam the Teacher"
    assert channel.find(f"{{{ITUNES}}}category").get("text") == "Health & Fitness"  # type: ignore[union-attr]
    art = channel.find(f"{{{ITUNES}}}image")
    assert art is not None
    status, headers, cover = get(server.port, local_path(art.get("href", ""), server.port))
    assert status == 200 and headers["Content-Type"] == "image/png" and cover.startswith(b"\x89PNG")


def test_one_item_per_track_with_its_enclosure_duration_notes_chapters_and_transcript(
    server: ShareServer, world: dict
) -> None:
    timeline: Timeline = world["timeline"]
    found = {}
    for item in items(server.port):
        enclosure = item.find("enclosure")
        assert enclosure is not None
        name = local_path(enclosure.get("url", ""), server.port)
        found[name] = item
    expected = {"/" + n.replace(" ", "%20").replace("é", "%C3%A9") for n in TRACKS.values()} | {"/big.wav"}
    assert set(found) == expected
    types = {"mp3": "audio/mpeg", "m4a": "audio/mp4", "m4b": "audio/mp4", "ogg": "audio/ogg"}
    for fmt, name in TRACKS.items():
        item = found["/" + name.replace(" ", "%20").replace("é", "%C3%A9")]
        enclosure = item.find("enclosure")
        assert enclosure is not None
        assert enclosure.get("length") == str((world["share"] / name).stat().st_size)
        assert enclosure.get("type") == types[fmt]
        assert item.findtext("title") == "Evening Rest"
        assert abs(int(item.findtext(f"{{{ITUNES}}}duration") or 0) - timeline.duration / 1000) <= 1
        notes = item.findtext("description") or ""
        for step in timeline.steps:
            assert step.title in notes
        guid = item.find("guid")
        assert guid is not None and guid.get("isPermaLink") == "false"
        chapters = item.find(f"{{{PODCAST}}}chapters")
        assert chapters is not None and chapters.get("type") == "application/json+chapters"
        transcript = item.find(f"{{{PODCAST}}}transcript")
        assert transcript is not None and transcript.get("type") == "text/vtt"
        status, headers, vtt = get(server.port, local_path(transcript.get("url", ""), server.port))
        assert status == 200 and headers["Content-Type"].startswith("text/vtt")
        assert vtt == (world["share"] / name).with_suffix(".vtt").read_bytes()
        image = item.find(f"{{{ITUNES}}}image")
        assert image is not None and get(server.port, local_path(image.get("href", ""), server.port))[0] == 200


def test_the_chapters_json_is_the_tracks_own_chapters(server: ShareServer, world: dict) -> None:
    timeline: Timeline = world["timeline"]
    for item in items(server.port):
        enclosure = item.find("enclosure")
        assert enclosure is not None
        name = os.path.basename(enclosure.get("url", "")).replace("%20", " ").replace("%C3%A9", "é")
        chapters = item.find(f"{{{PODCAST}}}chapters")
        if name == "big.wav":
            assert chapters is None  # a WAV has no chapters: no link to an empty list
            continue
        assert chapters is not None
        status, headers, body = get(server.port, local_path(chapters.get("url", ""), server.port))
        assert status == 200 and headers["Content-Type"].startswith("application/json")
        doc = json.loads(body)
        assert doc["version"] == "1.2.0"
        probed = ffprobe_chapters(world["share"] / name)
        assert [c["title"] for c in doc["chapters"]] == [c["tags"]["title"] for c in probed]
        assert [c["title"] for c in doc["chapters"]] == [s.title for s in timeline.steps]
        # The chapters tile the file: the first from 0 (the lead-in), each to the next, the last to the end.
        assert doc["chapters"][0]["startTime"] == 0.0
        for chapter, step in zip(doc["chapters"][1:], timeline.steps[1:]):
            assert abs(chapter["startTime"] - step.start / 1000) <= TOLERANCE_S, (name, chapter, step)
        for chapter, following in zip(doc["chapters"], doc["chapters"][1:]):
            assert chapter["endTime"] == following["startTime"], (name, chapter)
        length = float(probe(world["share"] / name)["format"]["duration"])
        assert abs(doc["chapters"][-1]["endTime"] - length) <= TOLERANCE_S, (name, doc["chapters"][-1], length)


# --------------------------------------------------------------------------- files, ranges, validators


def enclosure_paths(port: int) -> list[str]:
    return [local_path(e.get("url", ""), port) for e in feed(port).iter("enclosure")]


def test_every_enclosure_answers_ranges_with_exactly_the_right_bytes(server: ShareServer, world: dict) -> None:
    for path in enclosure_paths(server.port):
        name = path[1:].replace("%20", " ").replace("%C3%A9", "é")
        data = (world["share"] / name).read_bytes()
        size = len(data)
        status, headers, body = get(server.port, path)
        assert status == 200 and body == data and headers["Accept-Ranges"] == "bytes"
        cases = {"bytes=100-1099": (100, 1099), "bytes=-500": (size - 500, size - 1),
                 f"bytes={size - 300}-": (size - 300, size - 1), "bytes=0-0": (0, 0),
                 f"bytes=10-{size + 1000}": (10, size - 1), f"bytes=-{size + 5}": (0, size - 1)}
        for header, (first, last) in cases.items():
            status, headers, body = get(server.port, path, headers={"Range": header})
            assert status == 206, (path, header)
            assert headers["Content-Range"] == f"bytes {first}-{last}/{size}"
            assert int(headers["Content-Length"]) == last - first + 1
            assert body == data[first:last + 1], (path, header)
        for header in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0"):
            status, headers, body = get(server.port, path, headers={"Range": header})
            assert status == 416 and headers["Content-Range"] == f"bytes */{size}" and body == b""
        for header in ("bytes=5-2", "lines=1-2", "bytes=0-1,5-9", "bytes=abc"):  # ignored: the whole file
            status, _, body = get(server.port, path, headers={"Range": header})
            assert status == 200 and body == data, header


def test_head_gives_the_headers_of_get_and_no_body(server: ShareServer, world: dict) -> None:
    path = "/" + TRACKS["mp3"].replace(" ", "%20")
    size = (world["share"] / TRACKS["mp3"]).stat().st_size
    status, headers, body = get(server.port, path, method="HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) == size
    assert headers["Content-Type"] == "audio/mpeg" and headers["ETag"] and headers["Last-Modified"]
    status, headers, body = get(server.port, path, method="HEAD", headers={"Range": "bytes=10-19"})
    assert status == 206 and body == b"" and headers["Content-Range"] == f"bytes 10-19/{size}"
    status, headers, _ = get(server.port, "/feed.xml", method="HEAD")
    assert status == 200 and int(headers["Content-Length"]) == len(get(server.port, "/feed.xml")[2])


def test_etags_answer_if_none_match_and_change_with_the_file(server: ShareServer, world: dict) -> None:
    share: Path = world["share"]
    shutil.copy(share / TRACKS["ogg"], share / "etag.ogg")
    try:
        status, headers, _ = get(server.port, "/etag.ogg")
        etag = headers["ETag"]
        assert status == 200 and etag.startswith('"') and etag.endswith('"')
        assert get(server.port, "/etag.ogg", headers={"If-None-Match": etag})[0] == 304
        assert get(server.port, "/etag.ogg", headers={"If-None-Match": f'"x", W/{etag}'})[0] == 304
        status, _, body = get(server.port, "/etag.ogg", headers={"Range": "bytes=0-9", "If-Range": etag})
        assert status == 206 and len(body) == 10
        # a re-export renames a new file into place
        shutil.copy(share / TRACKS["mp3"], share / ".etag.tmp")
        os.replace(share / ".etag.tmp", share / "etag.ogg")
        status, headers, body = get(server.port, "/etag.ogg", headers={"If-None-Match": etag})
        assert status == 200 and headers["ETag"] != etag and body == (share / TRACKS["mp3"]).read_bytes()
        status, _, body = get(server.port, "/etag.ogg", headers={"Range": "bytes=0-9", "If-Range": etag})
        assert status == 200 and body == (share / TRACKS["mp3"]).read_bytes()  # stale If-Range: all of it
        status, headers, _ = get(server.port, "/feed.xml")
        assert get(server.port, "/feed.xml", headers={"If-None-Match": headers["ETag"]})[0] == 304
    finally:
        (share / "etag.ogg").unlink()


# --------------------------------------------------------------------------- what is never served


TRAVERSALS = [
    "/../secret.mp3", "/%2e%2e/secret.mp3", "/%2E%2E/secret.mp3", "/%2e%2e%2fsecret.mp3", "/..%2fsecret.mp3",
    "/%252e%252e%252fsecret.mp3", "/%25252e%25252e%25252fsecret.mp3", "/..%5csecret.mp3", "/..\\secret.mp3",
    "/./../secret.mp3", "/sub/../../secret.mp3", "//secret.mp3", "/leak.mp3", "/leak-dir/secret.mp3",
    "/leak-dir%2fsecret.mp3", "/.hidden.mp3", "/%2ehidden.mp3", "/sub/inner.mp3", "/sub%2finner.mp3", "/sub/",
    "/sub", "/notes.txt", "/secret.mp3", "/%00", "/a%20evening.mp3%00.txt", "/chapters/..%2fsecret.mp3.json",
    "/chapters/leak.mp3.json", "/chapters/%2e%2e%2f..%2fsecret.mp3.json", "/cover/leak.mp3.png",
    "/cover/..%2fsecret.mp3.png", "/cover/.hidden.mp3.png", "/share/a%20evening.mp3",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_traversal_and_hidden_files_get_404_and_not_one_outside_byte(server: ShareServer, world: dict,
                                                                     path: str) -> None:
    secret = world["secret"].read_bytes()
    status, data = raw(server.port, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    assert status == 404, path
    assert MARKER not in data and secret[:2000] not in data


def test_absolute_paths_and_absolute_form_targets_get_404(server: ShareServer, world: dict) -> None:
    secret = str(world["secret"])
    for target in (secret, "/etc/passwd", f"http://127.0.0.1:{server.port}/../secret.mp3",
                   f"http://127.0.0.1:{server.port}{secret}", f"file://{secret}", "secret.mp3", "*"):
        status, data = raw(server.port, f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        assert status in (400, 404), target
        assert MARKER not in data and b"root:" not in data


def test_no_directory_listing(server: ShareServer) -> None:
    status, headers, body = get(server.port, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b"/feed.xml" in body
    for name in ("evening", "big.wav", "sub", "leak", "hidden", "notes"):
        assert name.encode() not in body


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "FOO"])
def test_other_methods_get_405(server: ShareServer, world: dict, method: str) -> None:
    before = sorted(p.name for p in world["share"].iterdir())
    status, headers, _ = get(server.port, "/a%20evening.mp3", method=method, body=b"x" * 100)
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    assert sorted(p.name for p in world["share"].iterdir()) == before


# --------------------------------------------------------------------------- load and rude clients


def download_in_ranges(port: int, path: str, size: int, barrier: threading.Barrier) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    parts = []
    step = 1 << 20
    barrier.wait()
    try:
        for start in range(0, size, step):
            conn.request("GET", path, headers={"Range": f"bytes={start}-{min(size, start + step) - 1}"})
            resp = conn.getresponse()
            assert resp.status == 206
            parts.append(resp.read())
    finally:
        conn.close()
    return b"".join(parts)


def test_twenty_concurrent_range_downloads_are_byte_identical(server: ShareServer, world: dict) -> None:
    data = (world["share"] / "big.wav").read_bytes()
    barrier = threading.Barrier(20)
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda _: download_in_ranges(server.port, "/big.wav", len(data), barrier), range(20)))
    assert len(results) == 20 and all(r == data for r in results)


def test_a_client_dropping_mid_transfer_leaves_the_server_serving(server: ShareServer, world: dict,
                                                                 capfd: pytest.CaptureFixture[str]) -> None:
    size = (world["share"] / "big.wav").stat().st_size
    for _ in range(3):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        sock.sendall(b"GET /big.wav HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset, not a clean close
        sock.close()
    time.sleep(0.5)
    status, _, body = get(server.port, "/big.wav", headers={"Range": "bytes=-1000"})
    assert status == 206 and len(body) == 1000
    assert get(server.port, "/feed.xml")[0] == 200
    err = capfd.readouterr().err
    assert "Traceback" not in err
    dropped = [line for line in server.lines if " GET /big.wav 200 " in line]  # type: ignore[attr-defined]
    assert dropped and all(int(line.split()[-2]) < size for line in dropped[-3:])


def test_lan_address_sends_no_packet() -> None:
    """1,000 look-ups would send 1,000 UDP datagrams if connect() sent any: the kernel's counter says none."""

    def sent() -> int:
        lines = Path("/proc/net/snmp").read_text().splitlines()
        head, values = [line.split() for line in lines if line.startswith("Udp:")][:2]
        return int(values[head.index("OutDatagrams")])

    if not Path("/proc/net/snmp").exists():
        pytest.skip("needs Linux's /proc/net/snmp")
    before = sent()
    answers = {lan_address() for _ in range(1000)}
    assert sent() - before < 100  # other processes may send a few meanwhile; never one per call
    assert len(answers) == 1
    (answer,) = answers
    assert answer is None or (answer.count(".") == 3 and not answer.startswith("127."))


def test_parse_range_edges() -> None:
    assert parse_range(None, 10) is None
    assert parse_range("bytes=0-", 10) == (0, 9)
    assert parse_range("bytes=-3", 10) == (7, 9)
    assert parse_range("bytes=-30", 10) == (0, 9)
    assert parse_range("bytes=9-9", 10) == (9, 9)
    assert parse_range("bytes=²-3", 10) is None
    assert parse_range("bytes=-", 10) is None
    for bad in ("bytes=10-", "bytes=-0", "bytes=11-12"):
        with pytest.raises(Unsatisfiable):
            parse_range(bad, 10)
    with pytest.raises(Unsatisfiable):
        parse_range("bytes=0-", 0)


# --------------------------------------------------------------------------- the command


def test_legsup_serve_prints_the_feed_and_qr_serves_new_exports_and_stops_on_ctrl_c(world: dict) -> None:
    share: Path = world["share"]
    env = {**os.environ, "LEGSUP_CACHE_DIR": str(world["cache"]), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "legsup_audio", "serve", str(share), "--host", "127.0.0.1",
                             "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    out: list[str] = []

    def until(predicate: Any, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                assert proc.poll() is None, proc.stderr.read()  # type: ignore[union-attr]
                continue
            out.append(line)
            if predicate(line):
                return line
        raise AssertionError(f"not seen; output so far: {out}")

    try:
        url = until(lambda line: line.strip().endswith("/feed.xml")).strip()
        assert url.startswith("http://127.0.0.1:")
        port = int(url.split(":")[2].split("/")[0])
        until(lambda line: line.startswith("Press Ctrl-C"))
        start = next(i for i, line in enumerate(out) if "or scan:" in line) + 1
        qr = io.StringIO()
        segno.make(url, error="m").terminal(out=qr, compact=True)
        assert "".join(out[start:-1]) == qr.getvalue()
        assert len(items(port)) == 5
        until(lambda line: " GET /feed.xml 200 " in line)

        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("LEGSUP_CACHE_DIR", str(world["cache"]))
            mp.chdir(world["work"])
            export_session(world["session"], share / "e new.mp3", fmt="mp3")
        try:
            urls = [e.get("url") for e in feed(port).iter("enclosure")]
            assert f"http://127.0.0.1:{port}/e%20new.mp3" in urls and len(urls) == 6
            assert get(port, "/e%20new.mp3", headers={"Range": "bytes=0-99"})[2] == (share / "e new.mp3").read_bytes()[:100]
            until(lambda line: " GET /e%20new.mp3 206 0-99/" in line)
        finally:
            for suffix in (".mp3", ".lrc", ".vtt"):
                (share / f"e new{suffix}").unlink()
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=15)
    stderr = proc.stderr.read()  # type: ignore[union-attr]
    assert code == 0, stderr
    assert "Traceback" not in stderr and stderr == ""
    time.sleep(0.2)
    while not lines.empty():
        out.append(lines.get())
    assert out[-1].strip() == "stopped"


def test_legsup_serve_refuses_a_missing_folder_and_a_taken_port(world: dict, server: ShareServer) -> None:
    env = {**os.environ, "LEGSUP_CACHE_DIR": str(world["cache"])}
    run = subprocess.run([sys.executable, "-m", "legsup_audio", "serve", str(world["root"] / "nope")],
                         capture_output=True, text=True, env=env, timeout=30)
    assert run.returncode == 2 and "is not a folder" in run.stderr and "Traceback" not in run.stderr
    run = subprocess.run([sys.executable, "-m", "legsup_audio", "serve", str(world["share"]), "--host", "127.0.0.1",
                          "--port", str(server.port)], capture_output=True, text=True, env=env, timeout=30)
    assert run.returncode == 2 and f"port {server.port} is in use" in run.stderr
