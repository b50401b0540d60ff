"""The podcast feed of a shared folder: RSS 2.0 with the itunes and Podcasting 2.0 namespaces.

Owns the bytes of ``/feed.xml`` (a channel named after the tracks' album, in their
language when they share one, its artwork
from the newest track's cover, one item per track: enclosure, duration, the steps
as show notes, ``podcast:chapters`` and ``podcast:transcript``), of each track's JSON
chapters (spec 1.2) and the URL of everything the feed points at.  It builds text
from :class:`~legsup_audio.share.library.Track` values and a base URL; it never
reads files or sockets itself.
"""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from email.utils import formatdate
from urllib.parse import quote

from legsup_audio.script.languages import short_tag
from legsup_audio.share.library import Track
from legsup_audio.units import format_clock

ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
PODCAST = "https://podcastindex.org/namespace/1.0"
NAMESPACES = {"itunes": ITUNES, "podcast": PODCAST}
CHAPTERS_TYPE = "application/json+chapters"
#: What a channel is called when its tracks do not share one album.
DEFAULT_TITLE = "legsup-audio"
CATEGORY = "Health & Fitness"
FEED_PATH = "/feed.xml"
CHAPTERS_PREFIX = "/chapters/"
COVER_PREFIX = "/cover/"


def file_url(base: str, name: str) -> str:
    return f"{base}/{quote(name, safe='')}"


def chapters_url(base: str, track: Track) -> str:
    return f"{base}{CHAPTERS_PREFIX}{quote(track.file.name, safe='')}.json"


def cover_url(base: str, track: Track) -> str:
    return f"{base}{COVER_PREFIX}{quote(track.file.name, safe='')}{track.cover_suffix}"


def show_notes(track: Track) -> str:
    """The steps with their start times: what the session holds, as the small HTML podcast apps show."""
    head = f"{track.title} ({format_clock(track.duration)})" + (f" by {track.artist}" if track.artist else "")
    steps = "".join(f"<li>{format_clock(c.start)} {html.escape(c.title)}</li>" for c in track.chapters)
    return f"<p>{html.escape(head)}</p>" + (f"<ol>{steps}</ol>" if steps else "")


def channel_language(tracks: Sequence[Track]) -> str | None:
    """The feed's ``<language>`` (``es``): the one language the tracks are tagged with, else none."""
    languages = {short_tag(t.language) for t in tracks}
    return languages.pop() if len(languages) == 1 else None


def channel_title(tracks: Sequence[Track]) -> str:
    albums = {t.album for t in tracks if t.album}
    return albums.pop() if len(albums) == 1 else DEFAULT_TITLE


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def feed_xml(tracks: Sequence[Track], base: str, folder_name: str = "") -> bytes:
    """The whole feed; ``tracks`` newest first, URLs under ``base`` (``http://host:port``)."""
    for prefix, uri in NAMESPACES.items():
        ET.register_namespace(prefix, uri)
    it = f"{{{ITUNES}}}"
    rss = ET.Element("rss", {"version": "2.0"})
    channel = _sub(rss, "channel")
    title = channel_title(tracks)
    _sub(channel, "title", title)
    _sub(channel, "link", base + "/")
    _sub(channel, "description", f"Voice-guided sessions made with legsup-audio, shared from this computer"
                                 f"{f' (folder {folder_name})' if folder_name else ''}.")
    _sub(channel, "generator", "legsup-audio")
    if (language := channel_language(tracks)) is not None:
        _sub(channel, "language", language)
    if tracks:
        _sub(channel, "lastBuildDate", formatdate(max(t.file.mtime_ns for t in tracks) / 1e9, usegmt=True))
    artists = {t.artist for t in tracks if t.artist}
    _sub(channel, it + "author", artists.pop() if len(artists) == 1 else DEFAULT_TITLE)
    covered = next((t for t in tracks if t.cover is not None), None)
    if covered is not None:
        _sub(channel, it + "image", href=cover_url(base, covered))
        image = _sub(channel, "image")
        _sub(image, "url", cover_url(base, covered))
        _sub(image, "title", title)
        _sub(image, "link", base + "/")
    ET.SubElement(channel, it + "category", {"text": CATEGORY})
    _sub(channel, it + "explicit", "false")
    _sub(channel, it + "type", "episodic")
    for track in tracks:
        _item(channel, track, base)
    ET.indent(rss)
    body: bytes = ET.tostring(rss, encoding="utf-8", xml_declaration=True)
    return body + b"\n"


def _item(channel: ET.Element, track: Track, base: str) -> None:
    it, pc = f"{{{ITUNES}}}", f"{{{PODCAST}}}"
    ref = track.file
    item = _sub(channel, "item")
    _sub(item, "title", track.title)
    _sub(item, "description", show_notes(track))
    # The identity of these bytes: a re-export is a new episode, so a phone never keeps stale audio.
    _sub(item, "guid", f"legsup:{ref.name}:{ref.etag.strip(chr(34))}", isPermaLink="false")
    _sub(item, "pubDate", formatdate(ref.mtime_ns / 1e9, usegmt=True))
    _sub(item, "enclosure", url=file_url(base, ref.name), length=str(ref.size), type=ref.content_type)
    _sub(item, it + "duration", str(round(track.duration / 1000)))
    _sub(item, it + "episodeType", "full")
    if track.number is not None:
        _sub(item, it + "episode", str(track.number))
    if track.artist:
        _sub(item, it + "author", track.artist)
    if track.cover is not None:
        _sub(item, it + "image", href=cover_url(base, track))
    if track.chapters:
        _sub(item, pc + "chapters", url=chapters_url(base, track), type=CHAPTERS_TYPE)
    if track.transcript is not None:
        _sub(item, pc + "transcript", url=file_url(base, track.transcript.name), type="text/vtt")


def chapters_json(track: Track) -> bytes:
    """JSON chapters (Podcasting 2.0, version 1.2.0): the track's own chapters, times in seconds."""
    doc = {
        "version": "1.2.0",
        "title": track.title,
        "fileName": track.file.name,
        "chapters": [{"startTime": c.start / 1000, "endTime": c.end / 1000, "title": c.title}
                     for c in track.chapters],
    }
    return (json.dumps(doc, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
