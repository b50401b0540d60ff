"""The ``background:`` block of a cue script (SPEC section 4): reading it.

Owns reading ``background:`` at script level and per step (layers ``drone``,
``binaural``, ``isochronic``, ``noise``, ``music`` and ``bells``; ``fade_in``,
``fade_out`` and ``duck``; a step's ``off``), every check on it with its line and
column (unknown layers with a suggestion, levels above 0 dB, bad frequencies, a
music file that is missing, unreadable or undecodable, bell step ids that do not
exist are checked by the compiler), and the settings' defaults.  It makes no sound
and builds no generator: frequencies are checked with ``pitch``, the same checks the
bed's generators run.  ``compile.background`` turns the block into timeline events and
the bed plan.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yaml.nodes import Node, ScalarNode, SequenceNode

from legsup_audio.errors import Problem
from legsup_audio.model import LayerSpec
from legsup_audio.script.blocks import pitch
from legsup_audio.script.reading import Ctx, check_keys, file_problem, read_duration, read_mapping
from legsup_audio.script.suggest import suggest
from legsup_audio.units import SAMPLE_RATE

KEY = "background"
LAYERS = ("drone", "binaural", "isochronic", "noise", "music", "bells")
SETTINGS = ("fade_in", "fade_out", "duck")
#: Every layer's keys, and the level it gets when none is written.  A level is the layer's
#: loudness relative to the voice (LU; ``render.levels``): -30 sounds 30 LU under the voice;
#: bells by a strike's loudest 400 ms.
LAYER_KEYS: dict[str, tuple[str, ...]] = {
    "drone": ("note", "freq", "level"),
    "binaural": ("carrier", "beat", "level"),
    "isochronic": ("freq", "note", "rate", "level"),
    "noise": ("color", "level"),
    "music": ("file", "level", "loop"),
    "bells": ("at", "level", "note", "freq", "lead"),
}
DEFAULT_LEVEL_DB = {"drone": -27.0, "binaural": -28.0, "isochronic": -30.0, "noise": -30.0, "music": -24.0,
                    "bells": -10.0}
DEFAULT_FADE_IN_MS = 3000
DEFAULT_FADE_OUT_MS = 5000
DEFAULT_DUCK_DB = 6.0
CROSSFADE_MS = 1500  # changes between steps: an equal-power crossfade centred on the step boundary
BELL_EVENT_MS = 6000  # how long a bell event lasts in the timeline (the strike rings on, ever quieter)
#: A step's bell is struck at the step's start and its first word comes this much later,
#: under the bell's bloom (``bells: {lead: 3s}``).
DEFAULT_BELL_LEAD_MS = 3000
#: The session's last bell rings at least this long before the file ends (the tail grows to fit):
#: by then it is 35 dB under its strike.
BELL_RING_OUT_MS = 12000
NOISE_COLORS = ("white", "pink", "brown")
_LEVEL = re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*(?:db)?\s*$", re.IGNORECASE)


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


def read_level(node: Node, ctx: Ctx, what: str) -> float | None:
    """A level in dB, at most 0: ``-30dB``, ``-30 dB`` or ``-30``."""
    match = _LEVEL.match(node.value) if isinstance(node, ScalarNode) else None
    if match is None:
        ctx.error(node, f"{what}: '{getattr(node, 'value', '')}' is not a level: write it in dB like -30dB")
        return None
    level = float(match.group(1))
    if level > 0:
        ctx.error(node, f"{what}: {node.value} is above 0 dB; levels are dB relative to the voice and must be "
                        f"at most 0 (e.g. -30dB: 30 dB under the voice)")
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
            return pitch.note_to_hz(node.value if isinstance(node, ScalarNode) else "")
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


def _rounded(freq: float | None) -> float | None:
    """``freq`` to the millihertz, as the timeline keeps it (so 0.0001 Hz is 0 Hz, and refused)."""
    return None if freq is None else round(freq, 3)


def _check_pitch(ctx: Ctx, node: Node, check: Any) -> bool:
    try:
        check()
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
    """None when ``path`` decodes to music the bed can use (audio, not silent, not too long); else what is wrong."""
    from legsup_audio.script.media import music_problem

    return music_problem(path)


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
        freq = _rounded(_read_pitch(entries, ctx, "drone", node))  # checked as the generator will get it
        if freq is not None and _check_pitch(ctx, node, lambda: pitch.check_freq("drone frequency", freq, SAMPLE_RATE)):
            params["freq"] = freq
    elif kind == "binaural":
        carrier = _read_number(entries["carrier"][1], ctx, "binaural carrier") if "carrier" in entries else None
        beat = _read_number(entries["beat"][1], ctx, "binaural beat") if "beat" in entries else None
        for key in ("carrier", "beat"):
            if key not in entries:
                ctx.error(node, f"binaural needs '{key}' (in Hz), e.g. {{carrier: 200, beat: 6}}")
        if carrier and beat and _check_pitch(ctx, node, lambda: pitch.check_freq("binaural carrier", carrier, SAMPLE_RATE)
                                                    and pitch.check_freq("binaural carrier + beat", carrier + beat,
                                                                         SAMPLE_RATE)):
            params.update(carrier=carrier, beat=beat)
    elif kind == "isochronic":
        freq = _rounded(_read_pitch(entries, ctx, "isochronic", node))
        rate = _read_number(entries["rate"][1], ctx, "isochronic rate") if "rate" in entries else None
        if "rate" not in entries:
            ctx.error(node, "isochronic needs 'rate': pulses per second, e.g. {freq: 180, rate: 8}")
        if freq is not None and rate and _check_pitch(ctx, node, lambda: pitch.check_pulse_rate(
                rate, pitch.check_freq("isochronic frequency", freq, SAMPLE_RATE))):
            params.update(freq=freq, rate=rate)
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
        freq = _rounded(_read_pitch(entries, ctx, "bells", node, required=False))
        if freq is not None and _check_pitch(ctx, node, lambda: pitch.check_freq("bell frequency", freq, SAMPLE_RATE)):
            params["freq"] = freq
        if "lead" in entries:
            if at_step:
                ctx.error(entries["lead"][0], "the bells' 'lead' applies to every bell: put it in the script's "
                                              "background")
            elif (lead := read_duration(entries["lead"][1], ctx, "bells lead")) is not None:
                params["lead"] = lead
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
