"""Writing the timeline page and the label track: one self-contained HTML file, written atomically.

Owns filling the page template (``template.html``, shipped inside the package:
inline CSS and script, no fonts, images or scripts from anywhere else) with a
:class:`~legsup_audio.output.page.model.PageData` as inline JSON, and writing pages and
label files through a temporary file renamed into place, refusing any target that
is one of the command's inputs (the script, the track).  ``export_page`` is what
``legsup export --page`` runs after a track is in place: measure the written file,
then write ``NAME.html`` beside it.  It does not render or encode audio.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from urllib.parse import quote

from legsup_audio.output.files import check_target, write_text_atomic
from legsup_audio.output.page.labels import labels_text
from legsup_audio.output.page.model import PageData, page_data
from legsup_audio.compile.timeline import Timeline

PAGE_SUFFIX = ".html"
_DATA_MARK = "/*LEGSUP_DATA*/null"
_TITLE_MARK = "{{TITLE}}"


@lru_cache(maxsize=1)
def template() -> str:
    return (files("legsup_audio.output.page") / "template.html").read_text(encoding="utf-8")


def page_html(data: PageData) -> str:
    """The whole page for ``data``: the template with the data as inline JSON."""
    payload = json.dumps(data.as_dict(), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    # Inside <script>, "</script" or "<!--" in a cue's text would end or confuse the element: escape every "<".
    payload = payload.replace("<", "\\u003c")
    text = template()
    assert _DATA_MARK in text and _TITLE_MARK in text
    return text.replace(_TITLE_MARK, html.escape(data.title)).replace(_DATA_MARK, payload, 1)


def write_page(target: Path, data: PageData, *, inputs: Iterable[Path | None] = (), option: str = "--html",
               force: bool = False) -> Path:
    """Write the page of ``data`` to ``target`` (temporary file, then rename); never over an input."""
    check_target(target, inputs=inputs, option=option, force=force)
    write_text_atomic(target, page_html(data))
    return target


def write_labels(target: Path, timeline: Timeline, *, inputs: Iterable[Path | None] = (),
                 force: bool = False) -> Path:
    """Write ``timeline``'s Audacity label track to ``target`` (temporary file, then rename)."""
    check_target(target, inputs=inputs, option="--labels", force=force)
    write_text_atomic(target, labels_text(timeline))
    return target


def page_path(track: Path) -> Path:
    """``NAME.html`` beside ``NAME.mp3``."""
    return track.with_suffix(PAGE_SUFFIX)


def export_page(timeline: Timeline, track: Path, channels: int, *, inputs: Iterable[Path | None] = (),
                force: bool = False) -> Path:
    """Measure the written ``track`` and write its page beside it, playing it by a relative address."""
    from legsup_audio.output.page.measure import measure_file  # lazily: `timeline --html` needs no ffmpeg

    envelope = measure_file(track, channels)
    data = page_data(timeline, envelope, audio=quote(track.name), audio_name=track.name)
    return write_page(page_path(track), data, inputs=[track, *inputs], option="--page", force=force)
