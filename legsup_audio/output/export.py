"""Export: compiled sessions to finished, tagged audio files with their captions.

Owns the order of an export job (claim the targets, render and master, encode
into a temporary file, tag it, write the ``.lrc``/``.vtt`` sidecars into
temporary files, rename the sidecars and then the audio into place) so that each
target holds either the previous file or the complete new one, never a half-made
one, even when a stop signal lands (the renames run with signals held, and the
:class:`~legsup_audio.checkpoint.Job` records what the stop line reports); and the batch job (numbered tracks, the ``.m3u8`` playlist, the copy to a
phone folder).  It does not render, encode, tag or draw itself: those are
``pipeline``/``encode``, ``tags``, ``sidecars``, ``cover`` and ``sync``.
"""

from __future__ import annotations

import contextlib
import datetime
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import mutagen

from legsup_audio.checkpoint import Job, checkpoint, current, enter, signals_held
from legsup_audio.output.cover import load_cover, make_cover
from legsup_audio.output.encode import FFMPEG_CHAPTERS, FORMATS, encode, find_ffmpeg, mastering_target
from legsup_audio.errors import LegsupError, OutputError, UsageError
from legsup_audio.script.limits import DEFAULT_MAX_LENGTH_MS
from legsup_audio.render.master import Loudness, Mastered, as_heard_db
from legsup_audio.output.files import (
    atomic_path,
    check_target,
    ensure_folder,
    explain,
    os_error_in,
    write_text_atomic,
)
from legsup_audio.pipeline import Session, build, load, mastered, parsing_once, without_background
from legsup_audio.output.playlist import m3u8_text, track_filename
from legsup_audio.output.sidecars import lrc_text, vtt_text
from legsup_audio.output.sync import CopyReport, check_destination, copy_files
from legsup_audio.output.tags import TrackMeta, ffmetadata_text, write_tags
from legsup_audio.script.inputs import input_files
from legsup_audio.script.languages import iso639_2
from legsup_audio.model import CueScript

DEFAULT_FOLDER = Path("output")
#: The product name: the artist when a script has no author, the default album.
PRODUCT = "legsup-audio"
ALBUM = PRODUCT
GENRE = "Meditation"
#: Side length in pixels of the generated cover.
COVER_SIZE = 1000
#: The playlist's name (without ``.m3u8``) when several scripts are exported.
DEFAULT_PLAYLIST = "playlist"
SIDECAR_SUFFIXES = (".lrc", ".vtt")

Callback = Callable[[int, int], None]


class Progress(Protocol):
    """What the export job reports to a display (see ``legsup_audio.cli.progress``)."""

    def track(self, index: int, total: int, name: str) -> None: ...

    def phase(self, label: str) -> Callback | None: ...


@dataclass(frozen=True, slots=True)
class ExportResult:
    path: Path
    duration_ms: int
    loudness_before: Loudness
    gain_db: float
    channels: int
    title: str = ""
    sidecars: tuple[Path, ...] = ()
    lufs: float | None = None  # the file's integrated loudness (all of it, not only the voice), as heard
    page: Path | None = None  # NAME.html, with --page
    spoken: bool = True  # False when nothing in it is said (only pauses, tones, bells)


    @property
    def files(self) -> tuple[Path, ...]:
        """The track, then its sidecars (and its page)."""
        return (self.path, *self.sidecars, *((self.page,) if self.page is not None else ()))


@dataclass(frozen=True, slots=True)
class BatchResult:
    tracks: tuple[ExportResult, ...]
    playlist: Path | None = None
    copied: CopyReport | None = None
    files: tuple[Path, ...] = field(default=())


class BatchStopped(LegsupError):
    """A batch export stopped at a failing script; the tracks finished before it are kept."""

    def __init__(self, cause: LegsupError, summary: str) -> None:
        super().__init__(summary)
        self.cause = cause
        self.summary = summary
        self.exit_code = cause.exit_code

    def lines(self) -> list[str]:
        return [*self.cause.lines(), self.summary]


def default_path(session: Session, fmt: str = "mp3", folder: Path = DEFAULT_FOLDER) -> Path:
    return folder / f"{session.script.id}{FORMATS[fmt].suffix}"


def sidecar_paths(dest: Path) -> tuple[Path, ...]:
    """``NAME.lrc`` and ``NAME.vtt`` beside ``dest``."""
    return tuple(dest.with_suffix(suffix) for suffix in SIDECAR_SUFFIXES)


def drawn_cover(session: Session) -> bytes:
    """The generated cover of ``session``: its title (and author) on a calm square PNG."""
    return make_cover(session.timeline.title, session.script.author, size=COVER_SIZE)


def track_meta(
    session: Session,
    *,
    track: int | None = None,
    track_total: int | None = None,
    year: int | None = None,
    cover: tuple[bytes, str] | None = None,
    album: Album | None = None,
    loudness: Loudness | None = None,
    length_ms: int | None = None,
) -> TrackMeta:
    """The tags of ``session``: title, artist, album (and album artist), genre, year, track
    number, cover art, and the ReplayGain of the measured ``loudness`` (integrated LUFS and
    sample peak of the file as written).

    ``album`` is the batch's (:func:`batch_album`); without one, the script's own.  ``cover``
    (bytes, MIME type) is used when given; otherwise the script's ``cover:`` image is read,
    or a cover is drawn.  ``length_ms`` is the encoded file's length, where the last chapter ends.
    """
    script, tl = session.script, session.timeline
    if cover is None:
        cover = load_cover(script.cover) if script.cover is not None else (drawn_cover(session), "image/png")
    album = album or batch_album([script])
    return TrackMeta(
        title=tl.title,
        artist=artist_of(script),
        album=album.name,
        genre=GENRE,
        year=year if year is not None else datetime.date.today().year,
        track=track,
        track_total=track_total,
        cover=cover[0],
        cover_mime=cover[1],
        album_artist=album.artist,
        loudness=(loudness.integrated, loudness.peak) if loudness is not None else None,
        length_ms=length_ms,
    )


@dataclass(frozen=True, slots=True)
class Album:
    """What every track of one export is filed under on a phone: one album name and one album artist."""

    name: str
    artist: str


def artist_of(script: CueScript) -> str:
    return script.author or PRODUCT


def batch_album(scripts: Sequence[CueScript], name: str | None = None) -> Album:
    """The one album of the tracks exported together, so a phone files them together.

    The name is ``name`` (``--album``), else the first ``album:`` the scripts give (in
    export order), else the product name; the album artist is the artist all the scripts
    share, else the product name (never split across two artists, which some players
    would file as two albums).
    """
    chosen = name if name is not None else next((s.album for s in scripts if s.album), None)
    artists = {artist_of(script) for script in scripts}
    return Album(chosen or ALBUM, artists.pop() if len(artists) == 1 else PRODUCT)


def _mastered(session: Session, fmt: str, background: bool) -> tuple[Mastered, Loudness]:
    return mastered(session, mastering_target(fmt), background)


def _tag(path: Path, fmt: str, session: Session, meta: TrackMeta, dest: Path) -> None:
    try:
        write_tags(path, fmt, session.timeline, meta)
    except (mutagen.MutagenError, OSError) as exc:
        # mutagen wraps the OSError of a full disk in its own error: say what it means.
        cause = os_error_in(exc)
        detail = explain(cause, dest.parent) if cause is not None else str(exc)
        raise OutputError(f"could not write the tags of {dest}: {detail}") from None


@contextlib.contextmanager
def _chapters_for_ffmpeg(session: Session, fmt: str) -> Iterator[Path | None]:
    """An FFMETADATA file of the steps while encoding a format whose chapters ffmpeg writes (M4A/M4B)."""
    if fmt not in FFMPEG_CHAPTERS or not session.timeline.steps:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="legsup-chapters-") as folder:
        path = Path(folder) / "chapters.ffmeta"
        try:
            path.write_text(ffmetadata_text(session.timeline), encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"cannot write the chapters for ffmpeg: {explain(exc, Path(folder).parent)}") from None
        yield path


def _write_text(path: Path, text: str, dest: Path) -> None:
    try:
        path.write_text(text, encoding="utf-8", newline="\n")
    except OSError as exc:
        raise OutputError(f"cannot write {dest}: {explain(exc, dest.parent)}") from None


def export_session(
    session: Session,
    dest: Path,
    *,
    fmt: str = "mp3",
    bitrate: str | None = None,
    progress: Callback | None = None,
    track: int | None = None,
    track_total: int | None = None,
    sidecars: bool = True,
    background: bool = True,
    force: bool = False,
    option: str = "-o",
    also: Sequence[Path] = (),
    album: Album | None = None,
) -> ExportResult:
    """Write ``session`` to ``dest`` (and ``NAME.lrc``/``NAME.vtt`` beside it).

    Every file is written to a temporary file beside its target first; only when
    all of them are complete are they renamed into place, the sidecars first and
    the audio last.  On any failure or interrupt the temporary files are removed
    and the targets are left as they were.  ``album`` is the batch's album (default: the
    script's own, :func:`batch_album`).  Before any work, every target (and
    ``also``: files a caller writes afterwards, like the page) is checked with
    :func:`~legsup_audio.output.files.check_target`: never an input of the run, never
    anything but a regular file or a new name, never read-only unless ``force``.
    """
    if dest.suffix.lower() in SIDECAR_SUFFIXES:
        raise UsageError(f"{dest}: {dest.suffix} is the name of a caption file; give the track an audio "
                         f"name like {dest.with_suffix(FORMATS[fmt].suffix).name}")
    inputs = input_files(session.script)
    for target in (dest, *(sidecar_paths(dest) if sidecars else ()), *also):
        check_target(target, inputs=inputs, option=option if target == dest else "", force=force)
    find_ffmpeg()  # fail before any work when the encoder is missing
    # A script's own cover is read now, so a bad image fails before rendering; a generated
    # one is drawn on a second thread while the audio renders and encodes.
    own_cover = load_cover(session.script.cover) if session.script.cover is not None else None
    timeline = session.timeline
    artist = session.script.author or PRODUCT
    texts = (lrc_text(timeline, artist), vtt_text(timeline)) if sidecars else ()
    side_targets = sidecar_paths(dest)[: len(texts)]
    job = current()
    if job is not None:
        job.writing(dest)
    written = committed = False
    try:
        with contextlib.ExitStack() as stack:
            tmp = stack.enter_context(atomic_path(dest))  # entered first, so renamed last
            side_tmps = [stack.enter_context(atomic_path(target)) for target in side_targets]
            pool = stack.enter_context(ThreadPoolExecutor(max_workers=1, thread_name_prefix="legsup-cover"))
            drawing = pool.submit(drawn_cover, session) if own_cover is None else None
            # Only MP4's muxer needs the language before encoding; the tags need it after, so
            # langcodes (a fifth of a second to import) loads beside the encoder, not before it.
            muxed = iso639_2(timeline.language) if FORMATS[fmt].muxer == "ipod" else None
            pool.submit(iso639_2, timeline.language)
            checkpoint("rendering")
            source, loudness = _mastered(session, fmt, background)
            with _chapters_for_ffmpeg(session, fmt) as chapters:
                encode(source, tmp, fmt, bitrate, progress, target=dest, chapters=chapters, language=muxed)
            measured = file_loudness(source, fmt)
            cover = own_cover if drawing is None else (drawing.result(), "image/png")
            meta = track_meta(session, track=track, track_total=track_total, cover=cover, album=album,
                              loudness=measured, length_ms=encoded_length(tmp, fmt))
            checkpoint("tagging")
            _tag(tmp, fmt, session, meta, dest)
            enter("sidecars")
            for path, text, target in zip(side_tmps, texts, side_targets):
                _write_text(path, text, target)
                checkpoint("sidecars")
            written = True
            # Every rename or none: a stop signal waits until the track and its captions are in place.
            with signals_held():
                stack.close()
                committed = True
                if job is not None:
                    job.finished.append(dest)
                enter("finished")
    except BaseException:
        if written and not committed:  # a rename failed, so the audio was not renamed: take back captions renamed
            for target, text in zip(side_targets, texts):
                with contextlib.suppress(OSError, UnicodeDecodeError):
                    if target.read_text(encoding="utf-8") == text:
                        target.unlink()
        raise
    return ExportResult(dest, timeline.duration, loudness, source.gain_db, source.channels, timeline.title,
                        tuple(side_targets), measured.integrated if measured is not None else None,
                        spoken=any(event.kind == "speech" for event in timeline.events))


def file_loudness(source: Mastered, fmt: str) -> Loudness | None:
    """The written file's integrated loudness and sample peak, from the PCM metered as it was
    encoded: the loudness less the encoder's known loss (per format), as heard (a mono file as
    dual mono, ``as_heard_db`` over plain BS.1770: it plays on both ears, and players
    that apply ReplayGain then bring mono and stereo tracks to the same loudness as heard,
    as ReplayGain 1.0 did by analysing a mono file's one channel as both), the peak as it was fed in
    (an encoder's ringing moves a sample peak up a few tenths of a dB, never by a known amount,
    so it is not corrected; decoding the file again to find it would cost seconds).  None when
    not every frame was read in order."""
    measured = source.measured()
    if measured is None:
        return None
    heard = as_heard_db(source.channels)
    return Loudness(measured.integrated - FORMATS[fmt].loudness_loss_db + heard, measured.peak)


def encoded_length(path: Path, fmt: str) -> int | None:
    """The encoded file's length in ms as players read it (mutagen), where the last chapter ends;
    None when it cannot be read (the timeline's length is used)."""
    if fmt == "wav":
        return None
    try:
        info = getattr(mutagen.File(path), "info", None)
    except (mutagen.MutagenError, OSError):
        return None
    length = getattr(info, "length", None)
    return round(1000 * length) if length else None


def _batch_folder(output: Path | None) -> Path:
    folder = output if output is not None else DEFAULT_FOLDER
    suffixes = {spec.suffix for spec in FORMATS.values()}
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} is a file: with several scripts, -o names a folder for the tracks")
    if not folder.exists() and folder.suffix.lower() in suffixes:
        raise UsageError(f"with several scripts, -o names a folder for the tracks, not a file like {folder}")
    return folder


def _names_folder(output: Path | str) -> bool:
    """True when ``-o`` names a folder: an existing one, or a name written with a trailing slash."""
    try:
        is_dir = Path(output).is_dir()
    except (OSError, ValueError):  # a name too long, a NUL: not a folder (check_target says what is wrong)
        is_dir = False
    return is_dir or str(output).endswith(("/", "\\"))


def _single_dest(script_id: str, output: Path | str | None, fmt: str) -> Path:
    """Where one script's track goes: ``-o`` as a file, or ``<script-id>.<fmt>`` in ``-o``'s folder (default output/)."""
    if output is not None and not _names_folder(output):
        return Path(output)
    return (DEFAULT_FOLDER if output is None else Path(output)) / f"{script_id}{FORMATS[fmt].suffix}"


def check_bitrate(bitrate: str | None, fmt: str) -> str | None:
    """``--bitrate`` as ffmpeg takes it (``96k``), or a ``UsageError`` before any work (not ffmpeg's words after it)."""
    import re

    if bitrate is None:
        return None
    match = re.fullmatch(r"\s*(\d{1,7}(?:\.\d+)?)\s*(k|kb|kbps|kbit/s)?\s*", bitrate, re.IGNORECASE)
    kbps = float(match.group(1)) if match else 0.0
    if match and match.group(2) is None and kbps >= 1000:  # written in bit/s, like 96000
        kbps /= 1000
    if not match or not 8 <= kbps <= 320:
        raise UsageError(f"--bitrate '{bitrate}' is not a bitrate from 8k to 320k: write it like 64k or 96k")
    if fmt == "wav":
        raise UsageError("--bitrate does not apply to wav (it is uncompressed); leave it out or choose another format")
    return f"{kbps:g}k"


def choose_format(fmt: str | None, output: Path | str | None, *, batch: bool = False) -> str:
    """The format to write: ``--format`` if given, else the one ``-o``'s extension names, else mp3.

    An ``-o`` file whose extension is not an audio format legsup writes, or names another
    format than ``--format``, is a ``UsageError``: the file would hold what its name denies."""
    if fmt is not None:
        fmt = fmt.strip().lower().lstrip(".")
        if fmt not in FORMATS:
            raise UsageError(f"unknown format '{fmt}': use one of {', '.join(FORMATS)}")
    if batch or output is None or _names_folder(output):
        return fmt or "mp3"
    output = Path(output)
    suffix = output.suffix.lower()
    by_suffix = {spec.suffix: name for name, spec in FORMATS.items()}
    endings = ", ".join(spec.suffix for spec in FORMATS.values())
    if suffix in SIDECAR_SUFFIXES:
        raise UsageError(f"-o {output}: {suffix} is the name of a caption file; give the track an audio name "
                         f"like {output.with_suffix(FORMATS[fmt or 'mp3'].suffix).name}")
    if not suffix:
        return fmt or "mp3"
    if suffix not in by_suffix:
        raise UsageError(f"-o {output}: legsup cannot write {suffix} files; end the name with one of {endings}")
    implied = by_suffix[suffix]
    if fmt is not None and fmt != implied:
        raise UsageError(f"-o {output} names a {implied} file but --format is {fmt}; make them agree "
                         f"(or leave --format out: the extension chooses)")
    return implied


@parsing_once()  # the album, the target checks and the build read each script: parsed once
def export_scripts(
    scripts: Sequence[str | Path | None],
    *,
    output: Path | str | None = None,
    fmt: str | None = None,
    bitrate: str | None = None,
    playlist: str | None = None,
    to: Path | None = None,
    background: bool = True,
    progress: Progress | None = None,
    on_track: Callable[[ExportResult], None] | None = None,
    max_length_ms: int = DEFAULT_MAX_LENGTH_MS,
    voice: str | None = None,
    page: bool = False,
    force: bool = False,
    album: str | None = None,
) -> BatchResult:
    """Export one script, or several as a numbered batch with a playlist; then copy to ``to``.

    One script (and no ``playlist``) goes to ``output`` (a file or a folder; default
    ``output/<script-id>.<fmt>``).  Several go into the folder ``output`` as
    ``01 - Title.mp3``, ``02 - Title.mp3``, ... with ``<playlist>.m3u8``.  Scripts are
    exported in order; when one fails, the tracks before it are kept and a
    :class:`BatchStopped` names the failing script (no playlist is written and
    nothing is copied).  ``page`` also writes each track's timeline page (``NAME.html``) beside it.
    ``fmt`` (None: from ``output``'s extension, else mp3) is checked by :func:`choose_format`;
    ``force`` lets read-only targets be replaced.  Every track of one call gets one album
    (:func:`batch_album`: ``album``, else the first script's ``album:``, else legsup-audio).
    """
    names = list(scripts) or [None]
    if album is not None and not " ".join(album.split()):
        raise UsageError("--album takes a name, like --album 'Evening sessions'")
    batch = len(names) > 1 or playlist is not None
    fmt = choose_format(fmt, output, batch=batch)
    bitrate = check_bitrate(bitrate, fmt)
    if playlist is not None and (not playlist.strip() or "/" in playlist or "\\" in playlist):
        raise UsageError(f"--playlist takes a plain name like 'evening', not '{playlist}'")
    if to is not None:
        check_destination(to)  # before any work: the phone may not be mounted
    folder = _batch_folder(Path(output) if output is not None else None) if batch else None
    if folder is not None:
        check_target(folder / f"{playlist or DEFAULT_PLAYLIST}.m3u8", option="", force=force)
    _check_targets(names, folder, output=output, fmt=fmt, to=to, page=page, force=force, playlist=playlist)
    if folder is not None:
        ensure_folder(folder)
    total = len(names)
    with Job(total=total, folder=folder) as job:
        return _export_all(job, names, folder, output=output, fmt=fmt, bitrate=bitrate, playlist=playlist, to=to,
                           background=background, progress=progress, on_track=on_track, max_length_ms=max_length_ms,
                           voice=voice, page=page, force=force, album=_album_of(names, album))


def _album_of(names: Sequence[str | Path | None], name: str | None) -> Album:
    """The album of the scripts exported together; a script that does not load is left out here
    (the batch reports it when its turn comes, after the tracks before it are written)."""
    scripts = []
    for script_name in names:
        try:
            scripts.append(load(script_name))
        except LegsupError:
            continue
    return batch_album(scripts, " ".join(name.split()) if name is not None else None)


def _check_targets(names: list[str | Path | None], folder: Path | None, *, output: Path | str | None, fmt: str,
                   to: Path | None, page: bool, force: bool, playlist: str | None) -> None:
    """Every file the batch will write (tracks, captions, pages, and their copies in ``to``),
    checked before anything is spoken: a folder or device where a file goes is refused now,
    not after the render.  A script that does not load is left to the batch, which reports
    it in its turn (the tracks before it are still made)."""
    from legsup_audio.output.page import page_path
    from legsup_audio.pipeline import load

    copies: list[Path] = []
    for index, name in enumerate(names, start=1):
        try:
            script = load(name)
        except LegsupError:
            continue
        if folder is not None:
            dest = folder / track_filename(index, script.title, FORMATS[fmt].suffix)
        else:
            dest = _single_dest(script.id, output, fmt)
        targets = (dest, *sidecar_paths(dest), *((page_path(dest),) if page else ()))
        inputs = input_files(script)
        for target in targets:
            check_target(target, inputs=inputs, option="-o" if target == dest and output is not None and
                         folder is None else "", force=force)
        copies += targets
    if to is not None:
        if folder is not None:
            copies.append(folder / f"{playlist or DEFAULT_PLAYLIST}.m3u8")
        for path in copies:
            # Read-only is left to the copy: an identical file already there is skipped, not replaced.
            check_target(to / path.name, option="--to", force=True)


def _export_all(
    job: Job,
    names: list[str | Path | None],
    folder: Path | None,
    *,
    output: Path | str | None,
    fmt: str,
    bitrate: str | None,
    playlist: str | None,
    to: Path | None,
    background: bool,
    progress: Progress | None,
    on_track: Callable[[ExportResult], None] | None,
    max_length_ms: int,
    voice: str | None = None,
    page: bool = False,
    force: bool = False,
    album: Album | None = None,
) -> BatchResult:
    batch = folder is not None
    total = len(names)
    results: list[ExportResult] = []
    for index, name in enumerate(names, start=1):
        label = "legs-up-the-wall" if name is None else str(name)
        job.track(index, label)
        if progress is not None:
            progress.track(index, total, label)
        try:
            session = build(name, progress=progress.phase("speaking") if progress else None,
                            max_length_ms=max_length_ms, voice=voice)
            if not background:
                session = without_background(session)
            if folder is not None:
                dest = folder / track_filename(index, session.timeline.title, FORMATS[fmt].suffix)
            else:
                dest = _single_dest(session.script.id, output, fmt)
            from legsup_audio.output.page import page_path

            result = export_session(
                session, dest, fmt=fmt, bitrate=bitrate, background=background,
                track=index if batch else None, track_total=total if batch else None,
                progress=progress.phase("rendering and encoding") if progress else None,
                force=force, option="-o" if output is not None and not batch else "",
                also=(page_path(dest),) if page else (), album=album,
            )
            if page:  # after the track is in place: the page measures the written file
                from legsup_audio.output.page import export_page

                result = replace(result, page=export_page(session.timeline, result.path, result.channels,
                                                          inputs=input_files(session.script), force=force))
        except LegsupError as exc:
            if not batch:
                raise
            kept = f"{len(results)} finished track(s) kept in {folder}" if results else "no tracks written"
            raise BatchStopped(exc, f"legsup: batch stopped at script {index} of {total} ({label}): "
                                    f"{kept}; no playlist written") from None
        results.append(result)
        if on_track is not None:
            on_track(result)
        checkpoint("finished")
    files = [path for result in results for path in result.files]
    playlist_path = None
    if folder is not None:
        playlist_path = folder / f"{playlist or DEFAULT_PLAYLIST}.m3u8"
        entries = [(r.path.relative_to(folder).as_posix(), r.duration_ms, r.title) for r in results]
        job.writing(playlist_path)
        checkpoint("playlist")
        write_text_atomic(playlist_path, m3u8_text(entries))
        job.target = None
        files.append(playlist_path)
    copied = copy_files(files, to, force=force) if to is not None else None
    return BatchResult(tuple(results), playlist_path, copied, tuple(files))
