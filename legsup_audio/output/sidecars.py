"""Sidecar captions beside an exported file: ``NAME.lrc`` and ``NAME.vtt``.

This module owns the text of the two caption files made from a
:class:`~legsup_audio.compile.timeline.Timeline`'s spoken cues: LRC synced lyrics (what
phone music players show, centisecond precision) and WebVTT captions (millisecond
precision, with a NOTE per step).  Both show a cue as a person reads it
(``Event.caption``: no inline pause marks), say the text's language in their header,
and let the words go when the voice stops: a WebVTT cue ends where its speech ends,
and the LRC gets an empty timed line :data:`LRC_HOLD_MS` later (a player shows a
lyric until the next line, so without it "And out" would stay through minutes of
tones).  It writes them through the one atomic writer (``output.files``) and never
touches the audio itself.
"""

from __future__ import annotations

import errno
from pathlib import Path

from legsup_audio.errors import OutputError
from legsup_audio.output.files import FULL, explain, replace_with
from legsup_audio.compile.timeline import Event, Timeline
from legsup_audio.units import timestamp


def _one_line(text: str | None) -> str:
    """Collapse all whitespace (newlines included) to single spaces."""
    return " ".join((text or "").split())


def _spoken(timeline: Timeline) -> list[Event]:
    return [e for e in timeline.speech() if e.caption]


#: How long a lyric stays after its speech ends before an empty line clears it.
LRC_HOLD_MS = 1000
#: A clear shorter than this would only flicker before the next cue: the lyric stays instead.
LRC_MIN_BLANK_MS = 500


# --------------------------------------------------------------------------- LRC


def _centiseconds(ms: int) -> int:
    return (max(0, ms) + 5) // 10


def lrc_time(ms: int) -> str:
    """``mm:ss.xx`` rounded to the nearest centisecond (minutes may exceed 99)."""
    cs = _centiseconds(ms)
    minutes, cs = divmod(cs, 6000)
    seconds, cs = divmod(cs, 100)
    return f"{minutes:02d}:{seconds:02d}.{cs:02d}"


def _lrc_tag_value(text: str) -> str:
    # A "]" would end the ID tag early.
    return _one_line(text).replace("]", ")").replace("[", "(")


def lrc_text(timeline: Timeline, artist: str | None = None) -> str:
    """Synced lyrics: ID tags, then a ``[mm:ss.xx]text`` line per spoken cue and an empty
    ``[mm:ss.xx]`` line :data:`LRC_HOLD_MS` after its speech ends (unless the next cue
    comes within :data:`LRC_MIN_BLANK_MS` of that), so the screen clears while nothing is said.

    ``artist`` defaults to the timeline's author; the ``[ar:]`` tag is left out
    when neither is known, and ``[la:]`` (the text's language) when it is unknown.
    """
    lines = [f"[ti:{_lrc_tag_value(timeline.title)}]"]
    who = artist if artist is not None else timeline.author
    if who:
        lines.append(f"[ar:{_lrc_tag_value(who)}]")
    if timeline.language:
        lines.append(f"[la:{_lrc_tag_value(timeline.language)}]")
    seconds = (timeline.duration + 500) // 1000
    lines.append(f"[length: {seconds // 60:02d}:{seconds % 60:02d}]")
    lines.append("[re:legsup-audio]")
    spoken = _spoken(timeline)
    for event, after in zip(spoken, [*spoken[1:], None]):
        lines.append(f"[{lrc_time(event.start)}]{event.caption}")
        clear = min(event.end + LRC_HOLD_MS, timeline.duration)
        # At centisecond precision a clear line must fall strictly between this line and the next.
        cs = _centiseconds(clear)
        if cs > _centiseconds(event.start) and (after is None or after.start - clear >= LRC_MIN_BLANK_MS):
            lines.append(f"[{lrc_time(clear)}]")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- WebVTT


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def vtt_text(timeline: Timeline, notes: bool = True) -> str:
    """WebVTT captions: one cue per spoken cue, from its speech's start to its end; with
    ``notes``, a NOTE naming each step.  The header names the text's language
    (``Language: es``, the header metadata line players such as YouTube's read)."""
    blocks = ["WEBVTT" + (f"\nLanguage: {_one_line(timeline.language)}" if timeline.language else "")]
    noted: set[str] = set()
    step_titles = {s.id: s.title for s in timeline.steps}
    for event in _spoken(timeline):
        if notes and event.step not in noted:
            noted.add(event.step)
            title = _one_line(step_titles.get(event.step, event.step)).replace("-->", "->")
            blocks.append(f"NOTE step: {title}")
        end = max(event.end, event.start + 1)  # a cue must end after it starts
        blocks.append(
            f"{timestamp(event.start)} --> {timestamp(end)}\n{_vtt_escape(event.caption)}"
        )
    return "\n\n".join(blocks) + "\n"


# --------------------------------------------------------------------------- files


def write_sidecars(audio_path: str | Path, timeline: Timeline) -> list[Path]:
    """Write ``NAME.lrc`` and ``NAME.vtt`` beside ``audio_path``; return their paths."""
    audio_path = Path(audio_path)
    outputs = [
        (audio_path.with_suffix(".lrc"), lrc_text(timeline)),
        (audio_path.with_suffix(".vtt"), vtt_text(timeline)),
    ]
    written: list[Path] = []
    for path, text in outputs:
        try:
            replace_with(path, lambda f, text=text: f.write(text.encode("utf-8")), prefix=f".{path.name}.",
                         suffix=".tmp")
        except OSError as exc:
            reason = (explain(exc, path.parent) if exc.errno in (*FULL, errno.EACCES, errno.EPERM, errno.EROFS)
                      else f"{exc.strerror or exc}; check that the folder exists and is writable")
            raise OutputError(f"cannot write {path}: {reason}") from exc
        written.append(path)
    return written
