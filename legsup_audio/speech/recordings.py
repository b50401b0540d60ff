"""A script's folder of recorded cues: file names, which cues are recorded, the cue sheet.

Owns the naming rule that ties a recording to the text it speaks: every distinct
spoken text (cues and breathing-guide words, in script order) gets a readable,
stable name ``NNN-first-words-HASH``: its number in the script, a slug of its
first words, and a short hash of the text (whitespace folded).  A file in the
folder belongs to a text when the last ``-`` part of its stem is that text's
hash and its extension is an audio one (``AUDIO_SUFFIXES``); the number and the
words are only there for people, so renumbering after an inserted cue, or a
teacher renaming ``012-...`` to ``012b-...``, changes nothing, while editing a
cue's text gives it a new hash and so a new, missing recording.  It also writes
the cue sheet (``cues.csv``, ``README.txt``) for ``legsup recordings`` and
finds what ``validate`` warns about (cues with no recording yet, files no cue
uses).  Decoding a recording belongs to ``takes``; it never writes into the
folder except the two sheet files.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from legsup_audio.errors import Problem, ScriptError
from legsup_audio.model import CueScript, Pos
from legsup_audio.output.files import ensure_folder, write_text_atomic
from legsup_audio.speech.speaker import text_positions

#: Files that can be recordings, by extension (lower case); others in the folder are ignored.
AUDIO_SUFFIXES = frozenset({".wav", ".wave", ".flac", ".mp3", ".m4a", ".mp4", ".aac", ".ogg", ".oga", ".opus",
                            ".webm", ".aif", ".aiff", ".aifc", ".caf", ".wma", ".wv"})
#: The extension suggested for new recordings in the cue sheet (any of the above works).
SUGGESTED_SUFFIX = ".wav"
#: Hex digits of the text's hash in a name (longer for texts whose short hashes collide).
HASH_CHARS = 6
LONG_HASH_CHARS = 12
#: The slug: at most this many words and characters of the text.
SLUG_WORDS = 6
SLUG_CHARS = 40
SHEET = "cues.csv"
HOWTO = "README.txt"
_HASH_PART = re.compile(r"^[0-9a-f]{6,16}$")


def text_hash(text: str, chars: int = HASH_CHARS) -> str:
    """The hash that names a text's recording; whitespace is folded, nothing else."""
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()[:chars]


def slug(text: str) -> str:
    """The first words of ``text`` as lower-case ASCII joined by '-' ("cue" if none are left)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    words, length = [], 0
    for word in re.findall(r"[a-z0-9]+", ascii_text)[:SLUG_WORDS]:
        if words and length + 1 + len(word) > SLUG_CHARS:
            break
        words.append(word[:SLUG_CHARS])
        length += len(word) + (1 if len(words) > 1 else 0)
    return "-".join(words) or "cue"


def hashes(texts: Sequence[str]) -> dict[str, str]:
    """Each text's hash: HASH_CHARS digits, or LONG_HASH_CHARS for texts whose short ones collide."""
    short = {text: text_hash(text) for text in dict.fromkeys(texts)}
    count: dict[str, int] = {}
    for h in short.values():
        count[h] = count.get(h, 0) + 1
    return {text: h if count[h] == 1 else text_hash(text, LONG_HASH_CHARS) for text, h in short.items()}


def names(texts: Sequence[str]) -> dict[str, str]:
    """The suggested file stem of each text: ``NNN-slug-HASH`` (NNN its place in the script, from 001)."""
    texts = list(dict.fromkeys(texts))
    width = max(3, len(str(len(texts))))
    found = hashes(texts)
    return {text: f"{i:0{width}d}-{slug(text)}-{found[text]}" for i, text in enumerate(texts, start=1)}


def default_folder(script: CueScript, builtin: bool = False) -> Path:
    """The script's ``recordings:`` folder, else ``recordings/<script-id>/`` beside it
    (under the current folder for a built-in script, whose own folder is the package's)."""
    if script.recordings is not None:
        return script.recordings
    return (Path("recordings") if builtin else script.path.parent / "recordings") / script.id


@dataclass(frozen=True)
class Folder:
    """What a folder of recordings holds for one script's texts."""

    folder: Path
    texts: list[str]  # distinct spoken texts, in script order
    stems: dict[str, str]  # text -> suggested stem
    present: dict[str, list[Path]] = field(default_factory=dict)  # text -> its files (normally one)
    unused: list[Path] = field(default_factory=list)  # audio files no text of the script uses
    exists: bool = True

    @property
    def missing(self) -> list[str]:
        return [text for text in self.texts if text not in self.present]

    def take(self, text: str) -> Path | None:
        files = self.present.get(text)
        return files[0] if files and len(files) == 1 else None

    def takes(self) -> dict[str, Path]:
        """Each recorded text's one file (texts with two files are left out: see ``duplicate_problems``)."""
        return {text: files[0] for text, files in self.present.items() if len(files) == 1}

    def suggested(self, text: str) -> str:
        return self.stems[text] + SUGGESTED_SUFFIX

    def file_name(self, text: str) -> str:
        """The name the cue sheet gives a text: its recording's, else the suggested one."""
        take = self.take(text)
        return take.name if take is not None else self.suggested(text)


def scan(script: CueScript, folder: Path | None = None) -> Folder:
    """Match the audio files of ``folder`` (default: the script's ``recordings:``) to the script's texts."""
    folder = folder if folder is not None else script.recordings
    texts = script.spoken_texts()
    stems = names(texts)
    if folder is None:
        return Folder(Path(), texts, stems, exists=False)
    by_hash = {h: text for text, h in hashes(texts).items()}
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return Folder(folder, texts, stems, exists=False)
    except OSError as exc:
        raise ScriptError([_at(script, script.recordings_pos, f"cannot read the recordings folder {folder}: "
                                                              f"{exc.strerror or exc}")]) from None
    present: dict[str, list[Path]] = {}
    unused: list[Path] = []
    for entry in entries:
        path = Path(folder) / entry.name
        if entry.name.startswith(".") or path.suffix.lower() not in AUDIO_SUFFIXES:
            continue  # hidden files, the sheet, an editor's project files
        part = path.stem.rsplit("-", 1)[-1].lower()
        text = by_hash.get(part) if _HASH_PART.match(part) else None
        if text is None:
            unused.append(path)
        else:
            present.setdefault(text, []).append(path)
    return Folder(folder, texts, stems, present, unused)


def duplicate_problems(script: CueScript, found: Folder) -> list[Problem]:
    """A script error for each text with two or more recordings: which one is meant is not clear."""
    positions = text_positions(script)
    return [_at(script, positions.get(text), f"two recordings for this cue in {found.folder}: "
                f"{', '.join(p.name for p in files)}; keep one (move the others out of the folder)")
            for text, files in found.present.items() if len(files) > 1]


def takes_for(script: CueScript) -> dict[str, Path]:
    """The recording of each recorded text of the script; ``ScriptError`` if a text has two."""
    if script.recordings is None:
        return {}
    found = scan(script)
    if problems := duplicate_problems(script, found):
        raise ScriptError(problems)
    return found.takes()


def take_warnings(script: CueScript) -> list[Problem]:
    """``validate``'s warnings: cues with no recording yet, files no cue uses, a missing folder."""
    if script.recordings is None:
        return []
    found = scan(script)
    positions = text_positions(script)
    warnings = []
    if not found.exists:
        warnings.append(_at(script, script.recordings_pos, f"the recordings folder {found.folder} does not exist "
                            f"yet: every cue is spoken by the voice; make it with `legsup recordings "
                            f"{script.path}`", "warning"))
    for text in found.missing:
        warnings.append(_at(script, positions.get(text), f"no recording yet for this cue: record "
                            f"{found.folder / found.suggested(text)} (until then the voice speaks it)", "warning"))
    if found.unused:
        listed = ", ".join(p.name for p in found.unused[:5]) + (" ..." if len(found.unused) > 5 else "")
        warnings.append(_at(script, script.recordings_pos, f"{len(found.unused)} recording(s) in {found.folder} "
                            f"match no cue (its text changed, or the name lost its code): {listed}", "warning"))
    return warnings


@dataclass(frozen=True)
class Sheet:
    """What ``write_sheet`` did."""

    found: Folder
    csv_path: Path
    howto_path: Path
    wrote_howto: bool
    rerun: bool  # the folder already held a cue sheet


def write_sheet(script: CueScript, folder: Path) -> Sheet:
    """Write ``cues.csv`` (always) and ``README.txt`` (when missing) into ``folder``; recordings are kept."""
    ensure_folder(folder)
    found = scan(script, folder)
    csv_path, howto_path = folder / SHEET, folder / HOWTO
    rerun = csv_path.exists()
    write_text_atomic(csv_path, sheet_text(script, found))
    wrote_howto = not howto_path.exists()
    if wrote_howto:
        write_text_atomic(howto_path, howto_text(script, folder))
    return Sheet(found, csv_path, howto_path, wrote_howto, rerun)


def sheet_text(script: CueScript, found: Folder) -> str:
    """The cue sheet: ``file,line,text``, one row per distinct spoken text, in script order."""
    positions = text_positions(script)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["file", "line", "text"])
    for text in found.texts:
        pos = positions.get(text)
        writer.writerow([found.file_name(text), pos.line if pos else "", " ".join(text.split())])
    return buffer.getvalue()


def howto_text(script: CueScript, folder: Path) -> str:
    rel = _relative(folder, script.path.parent)
    return f"""Recordings for "{script.title}"

cues.csv lists every text the session speaks, in order: the file name to record it
under, the script line it comes from, and the words.

How to record:
- A quiet room, the microphone a hand's width away, the same place and level for all takes.
- One take per file, named as in cues.csv. Any format ffmpeg reads will do
  (.wav, .flac, .mp3, .m4a, .ogg; mono or stereo, any sample rate): only the
  extension may differ from the suggested .wav.
- Silence before and after the words is trimmed, and every take is levelled to the
  same loudness as the synthetic voice, so just speak naturally.
- Say only the words of the row: legsup adds the pauses and gaps of the script.

Use them: the script needs the line
    recordings: {rel}
Cues with a recording use it; the others are spoken by the script's voice.
`legsup validate SCRIPT` lists the cues not recorded yet; `legsup export SCRIPT`
makes the session. Run `legsup recordings SCRIPT` again after editing the script:
it rewrites cues.csv and tells you which recordings are present, missing, or no
longer used (an edited cue needs a new take).
"""


def _at(script: CueScript, pos: Pos | None, message: str, severity: str = "error") -> Problem:
    pos = pos or script.recordings_pos
    return Problem(str(script.path), pos.line if pos else 1, pos.col if pos else 1, message, severity)


def _relative(folder: Path, base: Path) -> str:
    try:
        return Path(os.path.relpath(folder, base)).as_posix()
    except ValueError:  # another drive
        return str(folder)
