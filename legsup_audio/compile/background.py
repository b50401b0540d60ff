"""The ``background:`` block of a cue script (SPEC section 4): parse it, compile it.

Owns reading ``background:`` at script level and per step (layers ``drone``,
``binaural``, ``isochronic``, ``noise``, ``music`` and ``bells``; ``fade_in``,
``fade_out`` and ``duck``; a step's ``off``), every check on it with its line and
column (unknown layers with a suggestion, levels above 0 dB, bad frequencies, a
music file that is missing, unreadable or undecodable, bell step ids that do not
exist), and compiling it into the timeline: ``bell`` events where the bowl is
struck, and a per-step plan under ``Timeline.extras["background"]`` that the
renderer (``bed.track``) follows, so ``legsup timeline --json`` shows what will
sound.  It makes no sound itself: the generators live in ``bed``.

Importing this module registers the block with the parser and the compiler.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yaml.nodes import Node, ScalarNode, SequenceNode

from legsup_audio.compile import compiler as compile_stage
from legsup_audio.script import parse
from legsup_audio.errors import Problem
from legsup_audio.model import CueScript
from legsup_audio.script.parse import Ctx, check_keys, file_problem, read_duration, read_mapping, suggest
from legsup_audio.compile.timeline import Event, Timeline, event_sort_key, ms_to_s

KEY = "background"
LAYERS = ("drone", "binaural", "isochronic", "noise", "music", "bells")
SETTINGS = ("fade_in", "fade_out", "duck")
#: Every layer's keys, and the level it gets when none is written (dBFS: RMS; bells: peak).
LAYER_KEYS: dict[str, tuple[str, ...]] = {
    "drone": ("note", "freq", "level"),
    "binaural": ("carrier", "beat", "level"),
    "isochronic": ("freq", "note", "rate", "level"),
    "noise": ("color", "level"),
    "music": ("file", "level", "loop"),
    "bells": ("at", "level", "note", "freq"),
}
DEFAULT_LEVEL_DB = {"drone": -30.0, "binaural": -32.0, "isochronic": -34.0, "noise": -36.0, "music": -24.0,
                    "bells": -20.0}
DEFAULT_FADE_IN_MS = 3000
DEFAULT_FADE_OUT_MS = 5000
DEFAULT_DUCK_DB = 6.0
CROSSFADE_MS = 1500  # changes between steps: an equal-power crossfade centred on the step boundary
BELL_EVENT_MS = 6000  # how long a bell event lasts in the timeline (the strike rings on, ever quieter)
MUSIC_CHECK_SECONDS = 2  # validation decodes this much of a music file
NOISE_COLORS = ("white", "pink", "brown")
_LEVEL = re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*(?:db)?\s*$", re.IGNORECASE)
_RATE = 44100  # only to check frequencies against Nyquist while parsing


@dataclass(frozen=True, slots=True)
class LayerSpec:
    """One layer as written: its kind, its parameters (JSON-ready pairs) and its level."""

    kind: str
    params: tuple[tuple[str, Any], ...]
    level: float  # dBFS
    line: int

    def as_dict(self) -> dict[str, Any]:
        return {"layer": self.kind, **dict(self.params), "level": self.level, "line": self.line}


@dataclass(frozen=True, slots=True)
class Background:
    """A ``background:`` block.  At step level ``layers`` may map a kind to None (``off``)."""

    layers: tuple[tuple[str, LayerSpec | None], ...] = ()
    off: bool = False  # a step's `background: off`
    fade_in: int | None = None  # ms
    fade_out: int | None = None
    duck: float | None = None  # dB, >= 0
    line: int = 0

    def layer(self, kind: str) -> LayerSpec | None:
        return dict(self.layers).get(kind)


# --- parsing -------------------------------------------------------------------------------


def _bed() -> Any:
    """The generators, imported only for scripts that have a background (a voice-only session never loads them)."""
    import legsup_audio.render.bed as bed

    return bed


def read_level(node: Node, ctx: Ctx, what: str) -> float | None:
    """A level in dB, at most 0: ``-30dB``, ``-30 dB`` or ``-30``."""
    match = _LEVEL.match(node.value) if isinstance(node, ScalarNode) else None
    if match is None:
        ctx.error(node, f"{what}: '{getattr(node, 'value', '')}' is not a level: write it in dB like -30dB")
        return None
    level = float(match.group(1))
    if level > 0:
        ctx.error(node, f"{what}: {node.value} is above 0 dB; levels are dB relative to full scale and must be "
                        f"at most 0 (e.g. -30dB)")
        return None
    return level


def _read_number(node: Node, ctx: Ctx, what: str, unit: str = "Hz") -> float | None:
    text = node.value.strip() if isinstance(node, ScalarNode) else ""
    if unit and text.lower().endswith(unit.lower()):
        text = text[: -len(unit)].strip()
    try:
        value = float(text)
    except ValueError:
        ctx.error(node, f"{what}: '{getattr(node, 'value', '')}' is not a number" + (f" of {unit}" if unit else ""))
        return None
    if not value > 0 or value != value or value == float("inf"):
        ctx.error(node, f"{what} must be above 0, not {node.value}")
        return None
    return value


def _read_pitch(entries: dict[str, tuple[Node, Node]], ctx: Ctx, what: str, where: Node,
                required: bool = True) -> float | None:
    """``note: A2`` or ``freq: 110`` (exactly one), as Hz."""
    if "note" in entries and "freq" in entries:
        ctx.error(entries["freq"][0], f"{what}: give either 'note' or 'freq', not both")
        return None
    if "note" in entries:
        node = entries["note"][1]
        try:
            return _bed().note_to_hz(node.value if isinstance(node, ScalarNode) else "")
        except ValueError as exc:
            ctx.error(node, f"{what}: {exc}")
            return None
    if "freq" in entries:
        return _read_number(entries["freq"][1], ctx, f"{what} freq")
    if required:
        ctx.error(where, f"{what} needs a pitch: 'note: A2' or 'freq: 110'")
    return None


def _is_off(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.value.strip().lower() in ("off", "false", "no", "none")


def _check_generator(ctx: Ctx, node: Node, make: Any) -> bool:
    try:
        make()
    except ValueError as exc:
        ctx.error(node, str(exc))
        return False
    return True


def _music_file(node: Node, ctx: Ctx) -> str | None:
    """The music file, resolved relative to the script, checked readable and decodable."""
    if not isinstance(node, ScalarNode) or not node.value.strip():
        ctx.error(node, "music file must be a path to an audio file (relative to the script)")
        return None
    base = Path(ctx.source).parent if getattr(ctx, "source", None) is not None else Path(ctx.file).parent
    path = base / Path(node.value.strip()).expanduser()
    with contextlib.suppress(OSError, ValueError, RuntimeError):  # NUL in the name, a symlink loop
        path = path.resolve()  # a symlink to a file elsewhere (a music library) is fine: it names a file
    why = file_problem(path)
    if why == "not found":
        ctx.error(node, f"music file not found: {path} (paths are relative to the script's folder)")
        return None
    if why is not None:
        fix = " (check its permissions)" if why.startswith("cannot be read") else "; give an audio file"
        ctx.error(node, f"music file {path} {why}{fix}")
        return None
    problem = check_decodable(path)
    if problem:
        ctx.error(node, problem)
        return None
    return str(path)


def check_decodable(path: Path) -> str | None:
    """None when ffmpeg decodes audio from the start of ``path``; else what is wrong."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return "ffmpeg is needed to read music files: install it (e.g. apt install ffmpeg)"
    command = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-i", f"file:{path}", "-map", "0:a:0",
               "-t", str(MUSIC_CHECK_SECONDS), "-f", "s16le", "-ac", "1", "-ar", "8000", "pipe:1"]
    result = subprocess.run(command, capture_output=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0 or not result.stdout:
        lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
        reason = lines[-1].replace(f"file:{path}: ", "") if lines else "it holds no audio"
        return f"cannot decode music file {path}: {reason} (give an MP3, WAV, OGG or FLAC file)"
    return None


def _layer(kind: str, key_node: Node, node: Node, ctx: Ctx, at_step: bool) -> LayerSpec | None:
    what = f"background {kind}"
    entries = read_mapping(node, ctx, what)
    if entries is None:
        return None
    before = len(ctx.problems)
    check_keys(entries, LAYER_KEYS[kind], ctx, what)
    level = DEFAULT_LEVEL_DB[kind]
    if "level" in entries:
        level = read_level(entries["level"][1], ctx, f"{kind} level")  # type: ignore[assignment]
    params: dict[str, Any] = {}
    if kind == "drone":
        freq = _read_pitch(entries, ctx, "drone", node)
        if freq is not None and _check_generator(ctx, node, lambda: _bed().Drone(_RATE, freq, -30.0)):
            params["freq"] = round(freq, 3)
    elif kind == "binaural":
        carrier = _read_number(entries["carrier"][1], ctx, "binaural carrier") if "carrier" in entries else None
        beat = _read_number(entries["beat"][1], ctx, "binaural beat") if "beat" in entries else None
        for key in ("carrier", "beat"):
            if key not in entries:
                ctx.error(node, f"binaural needs '{key}' (in Hz), e.g. {{carrier: 200, beat: 6}}")
        if carrier and beat and _check_generator(ctx, node, lambda: _bed().Binaural(_RATE, carrier, beat, -30.0)):
            params.update(carrier=carrier, beat=beat)
    elif kind == "isochronic":
        freq = _read_pitch(entries, ctx, "isochronic", node)
        rate = _read_number(entries["rate"][1], ctx, "isochronic rate") if "rate" in entries else None
        if "rate" not in entries:
            ctx.error(node, "isochronic needs 'rate': pulses per second, e.g. {freq: 180, rate: 8}")
        if freq and rate and _check_generator(ctx, node, lambda: _bed().Isochronic(_RATE, freq, rate, -30.0)):
            params.update(freq=round(freq, 3), rate=rate)
    elif kind == "noise":
        color = "pink"
        if "color" in entries:
            color_node = entries["color"][1]
            color = color_node.value.strip().lower() if isinstance(color_node, ScalarNode) else ""
            if color not in NOISE_COLORS:
                ctx.error(color_node, f"noise color must be white, pink or brown, not "
                                      f"'{getattr(color_node, 'value', '')}'{suggest(color, NOISE_COLORS)}")
        params["color"] = color
    elif kind == "music":
        if "file" not in entries:
            ctx.error(node, "music needs 'file': an audio file (MP3, WAV, OGG, FLAC) relative to the script")
        elif (path := _music_file(entries["file"][1], ctx)) is not None:
            params["file"] = path
        loop = True
        if "loop" in entries:
            loop_node = entries["loop"][1]
            word = loop_node.value.strip().lower() if isinstance(loop_node, ScalarNode) else ""
            if word not in ("true", "false", "yes", "no", "on", "off"):
                ctx.error(loop_node, "music loop must be true or false")
            loop = word in ("true", "yes", "on")
        params["loop"] = loop
    elif kind == "bells":
        freq = _read_pitch(entries, ctx, "bells", node, required=False)
        if freq is not None:
            params["freq"] = round(freq, 3)
        if "at" in entries:
            at_node = entries["at"][1]
            if at_step:
                ctx.error(entries["at"][0], "a step's bells ring at that step's start: 'at' goes in the "
                                            "script's background")
            elif isinstance(at_node, ScalarNode) and at_node.value.strip() == "steps":
                params["at"] = "steps"
            elif isinstance(at_node, SequenceNode) and at_node.value and all(
                isinstance(n, ScalarNode) and n.value.strip() for n in at_node.value
            ):
                params["at"] = [n.value.strip() for n in at_node.value]
                params["at_lines"] = [n.start_mark.line + 1 for n in at_node.value]
                params["at_cols"] = [n.start_mark.column + 1 for n in at_node.value]
            else:
                ctx.error(at_node, "bells 'at' is `steps` (every step start) or a list of step ids")
        elif not at_step:
            params["at"] = "steps"
    if len(ctx.problems) > before or level is None:
        return None
    return LayerSpec(kind, tuple(params.items()), float(level), key_node.start_mark.line + 1)


def _block(node: Node, ctx: Ctx, at_step: bool) -> Background | None:
    where = "a step's background" if at_step else "the script's background"
    if at_step and _is_off(node):
        return Background(off=True, line=node.start_mark.line + 1)
    entries = read_mapping(node, ctx, where)
    if entries is None:
        if at_step:
            ctx.problems[-1] = Problem(ctx.file, *_at(node), f"{where} must be a mapping of layers, or `off`")
        return None
    layers: list[tuple[str, LayerSpec | None]] = []
    settings: dict[str, Any] = {}
    for key, (key_node, value) in entries.items():
        if key in LAYERS:
            if _is_off(value):
                if at_step:
                    layers.append((key, None))
                else:
                    ctx.error(value, f"'{key}: off' only means something in a step; leave the layer out here")
                continue
            spec = _layer(key, key_node, value, ctx, at_step)
            if spec is not None:
                layers.append((key, spec))
        elif key in SETTINGS:
            if at_step:
                ctx.error(key_node, f"'{key}' applies to the whole session: put it in the script's background")
            elif key == "duck":
                if (level := _read_db(value, ctx)) is not None:
                    settings[key] = level
            else:
                settings[key] = read_duration(value, ctx, key)
        else:
            choices = [*LAYERS] if at_step else [*LAYERS, *SETTINGS]
            ctx.error(key_node, f"unknown background layer '{key}'{suggest(key, choices)}; layers: "
                                f"{', '.join(LAYERS)}" + ("" if at_step else f"; settings: {', '.join(SETTINGS)}"))
    return Background(layers=tuple(layers), fade_in=settings.get("fade_in"), fade_out=settings.get("fade_out"),
                      duck=settings.get("duck"), line=node.start_mark.line + 1)


def _read_db(node: Node, ctx: Ctx) -> float | None:
    match = _LEVEL.match(node.value) if isinstance(node, ScalarNode) else None
    if match is None:
        ctx.error(node, f"duck: '{getattr(node, 'value', '')}' is not an amount in dB: write it like 6dB")
        return None
    return abs(float(match.group(1)))


def _at(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def parse_script_background(node: Node, ctx: Ctx) -> Background | None:
    return _block(node, ctx, at_step=False)


def parse_step_background(node: Node, ctx: Ctx) -> Background | None:
    return _block(node, ctx, at_step=True)


# --- compiling -----------------------------------------------------------------------------


def step_layers(script_bed: Background | None, step_bed: Background | None) -> list[LayerSpec]:
    """The layers sounding in a step: the script's, with the step's replacing those it names."""
    if step_bed is not None and step_bed.off:
        return []
    layers = dict(script_bed.layers) if script_bed is not None else {}
    if step_bed is not None:
        layers.update(step_bed.layers)
    return [spec for spec in layers.values() if spec is not None]


def compile_background(script: CueScript, timeline: Timeline, problems: list[Problem]) -> Timeline:
    """Add bell events and the bed plan (``extras["background"]``) to ``timeline``."""
    script_bed: Background | None = script.get(KEY)
    step_beds: list[Background | None] = [step.get(KEY) for step in script.steps]
    if script_bed is None and all(bed is None for bed in step_beds):
        return timeline
    file = str(script.path)
    spans = timeline.steps
    segments = []
    bells: list[Event] = []
    script_bells = script_bed.layer("bells") if script_bed is not None else None
    wanted: set[str] | None = None  # None: every step
    if script_bells is not None and dict(script_bells.params).get("at") != "steps":
        params = dict(script_bells.params)
        ids = [s.id for s in spans]
        wanted = set()
        for step_id, line, col in zip(params["at"], params["at_lines"], params["at_cols"]):
            if step_id in ids:
                wanted.add(step_id)
            else:
                problems.append(Problem(file, line, col, f"bells: no step '{step_id}'{suggest(step_id, ids)}; "
                                                         f"steps: {', '.join(ids)}"))
    for index, (span, step_bed) in enumerate(zip(spans, step_beds)):
        layers = step_layers(script_bed, step_bed)
        start = 0 if index == 0 else span.start
        end = timeline.duration if index == len(spans) - 1 else span.end
        segments.append({"step": span.id, "start": ms_to_s(start), "end": ms_to_s(end),
                         "layers": [spec.as_dict() for spec in layers if spec.kind != "bells"]})
        bell = next((spec for spec in layers if spec.kind == "bells"), None)
        named_here = step_bed is not None and "bells" in dict(step_bed.layers)
        if bell is not None and (named_here or wanted is None or span.id in wanted):
            bells.append(_bell_event(bell, span.start, span.id, timeline.duration))
    if script_bells is not None and spans:
        bells.append(_bell_event(script_bells, spans[-1].end, spans[-1].id, timeline.duration))
    plan = {
        "fade_in": ms_to_s(_setting(script_bed, "fade_in", DEFAULT_FADE_IN_MS)),
        "fade_out": ms_to_s(_setting(script_bed, "fade_out", DEFAULT_FADE_OUT_MS)),
        "duck": float(_setting(script_bed, "duck", DEFAULT_DUCK_DB)),
        "crossfade": ms_to_s(CROSSFADE_MS),
        "segments": segments,
    }
    events = sorted([*timeline.events, *bells], key=event_sort_key)
    extras = tuple((k, v) for k, v in timeline.extras if k != KEY) + ((KEY, plan),)
    return Timeline(title=timeline.title, duration=timeline.duration, steps=timeline.steps, events=tuple(events),
                    voice=timeline.voice, author=timeline.author, extras=extras)


def _setting(bed: Background | None, name: str, default: Any) -> Any:
    value = getattr(bed, name) if bed is not None else None
    return default if value is None else value


def _bell_event(spec: LayerSpec, at: int, step_id: str, duration: int) -> Event:
    data: tuple[tuple[str, Any], ...] = (("level", spec.level),)
    if "freq" in dict(spec.params):
        data += (("freq", dict(spec.params)["freq"]),)
    return Event("bell", at, max(at, min(at + BELL_EVENT_MS, duration)), step_id, spec.line, data=data)


def without_background(timeline: Timeline) -> Timeline:
    """The same timeline with no bed: no bell events, no plan (``--no-background``)."""
    return Timeline(title=timeline.title, duration=timeline.duration, steps=timeline.steps,
                    events=tuple(e for e in timeline.events if e.kind != "bell"), voice=timeline.voice,
                    author=timeline.author, extras=tuple((k, v) for k, v in timeline.extras if k != KEY))


def register() -> None:
    parse.NOT_YET.pop(KEY, None)
    parse.SCRIPT_BLOCKS[KEY] = parse_script_background
    parse.STEP_BLOCKS[KEY] = parse_step_background
    if compile_background not in compile_stage.TIMELINE_PASSES:
        compile_stage.TIMELINE_PASSES.append(compile_background)


register()
