"""The ``breathe:`` step block (SPEC section 3): reading it.

Owns reading the block's YAML (pattern, ``cycles`` or ``for``, ``guide``,
``voice_cycles``, ``ramp``, the tones' ``level`` relative to the voice) into a frozen :class:`Breathe`, reporting every
problem at its ``FILE:LINE:COL``.  The arithmetic (presets, ramps, exact boundaries
from the cycle index, where guide cues fall) belongs to ``cadence``; turning a block
into timeline events to ``compile.breathe``.
"""

from __future__ import annotations

from dataclasses import dataclass

from yaml.nodes import MappingNode, Node, ScalarNode

from legsup_audio.script import cadence
from legsup_audio.script import guides
from legsup_audio.script.cadence import CadenceError, Pattern, Phase, Ramp
from legsup_audio.script.guides import GuideCue
from legsup_audio.model import Pos
from legsup_audio.script.limits import MAX_BREATHE_CYCLES
from legsup_audio.script.blocks.background import read_level
from legsup_audio.script.reading import Ctx, check_keys, read_duration, read_mapping
from legsup_audio.script.suggest import suggest

BREATHE_KEYS = ("pattern", "cycles", "for", "guide", "voice_cycles", "ramp", "level")
RAMP_KEYS = ("to", "over")
DEFAULT_GUIDE = "words"
#: The guide tones' loudness relative to the voice (LU) when the block gives no ``level``:
#: clearly there, well under a spoken cue.
DEFAULT_TONE_LEVEL_DB = -12.0
_EXAMPLE = "e.g. breathe: {pattern: relax, for: 5m}"


@dataclass(frozen=True, slots=True)
class Breathe:
    """A parsed ``breathe:`` block; ``cycles`` is already resolved when ``for`` was given."""

    pattern: Pattern
    cycles: int
    pos: Pos  # the block (its first key, or its '{')
    pattern_pos: Pos  # phases point at this line
    guide: str = DEFAULT_GUIDE
    guide_pos: Pos | None = None  # guide words and tones point here (else at the pattern)
    voice_cycles: int | None = None
    ramp: Ramp | None = None
    for_ms: int | None = None
    level: float | None = None  # the guide tones' loudness relative to the voice, dB; None: the default

    @property
    def length(self) -> int:
        """The block's length in ms: the exact sum of its cycles, rounded once."""
        return cadence.block_length(self.pattern, self.ramp, self.cycles)

    def phases(self, start: int) -> list[Phase]:
        return cadence.phases(self.pattern, self.ramp, self.cycles, start)

    def cues(self, start: int) -> list[GuideCue]:
        return guides.guide_cues(self.phases(start), self.guide, self.voice_cycles)

    def spoken_texts(self) -> list[str]:
        """The distinct guide words this block speaks, in the order first spoken."""
        return list(dict.fromkeys(c.text for c in self.cues(0) if c.kind == "speech" and c.text))


# --- parsing ----------------------------------------------------------------------------


def parse_breathe(node: Node, ctx: Ctx) -> Breathe | None:
    """Read a ``breathe:`` value node; every problem goes to ``ctx``; None if any."""
    if not isinstance(node, MappingNode):
        ctx.error(node, f"'breathe' must be a mapping with a pattern and its length, {_EXAMPLE}")
        return None
    entries = read_mapping(node, ctx, "'breathe'")
    if entries is None:
        return None
    before = len(ctx.problems)
    check_keys(entries, BREATHE_KEYS, ctx, "'breathe'")

    def value(key: str) -> Node | None:
        return entries[key][1] if key in entries else None

    pattern = None
    if (pattern_node := value("pattern")) is None:
        ctx.error(node, f"'breathe' has no 'pattern': give one such as 4-6, 4-7-8 or relax; {_EXAMPLE}")
    else:
        pattern = _pattern(pattern_node, ctx, "pattern")
    ramp = _ramp(ramp_node, ctx) if (ramp_node := value("ramp")) is not None else None

    guide, guide_node = DEFAULT_GUIDE, value("guide")
    if guide_node is not None:
        guide = _choice(guide_node, ctx)
    voice_cycles = None
    if (vc_node := value("voice_cycles")) is not None:
        voice_cycles = _whole(vc_node, ctx, "voice_cycles", least=0)
        if guide in ("tone", "silent"):
            ctx.error(entries["voice_cycles"][0], f"'voice_cycles' goes with 'guide: words' or 'guide: count' "
                                                  f"(the voice speaks for the first cycles, then tones take "
                                                  f"over); with 'guide: {guide}' leave it out")

    level = None
    if (level_node := value("level")) is not None:
        level = read_level(level_node, ctx, "breathe level")
    cycles = for_ms = None
    cycles_node, for_node = value("cycles"), value("for")
    if cycles_node is not None and for_node is not None:
        ctx.error(entries["for"][0], "give either 'cycles' or 'for', not both: 'cycles' counts breaths, "
                                     "'for' fills a length of time with whole cycles")
    elif cycles_node is not None:
        cycles = _whole(cycles_node, ctx, "cycles", least=1)
    elif for_node is not None:
        for_ms = read_duration(for_node, ctx, "for")
    else:
        ctx.error(node, f"'breathe' needs 'cycles' (how many breaths) or 'for' (how long); {_EXAMPLE}")

    if len(ctx.problems) > before or pattern is None or pattern_node is None:
        return None
    if for_ms is not None:
        try:
            cycles = cadence.cycles_for(pattern, ramp, for_ms)
        except CadenceError as exc:
            assert for_node is not None
            ctx.error(for_node, _for_message(str(exc), pattern, ramp))
            return None
    assert cycles is not None
    if cycles > MAX_BREATHE_CYCLES:  # before a single phase is laid out: each one costs memory and time
        where = for_node if for_node is not None else cycles_node
        assert where is not None
        ctx.error(where, f"'breathe' makes {cycles:,} cycles, over the limit of {MAX_BREATHE_CYCLES:,} in one "
                         "block; use fewer cycles or a shorter 'for', or slower phases")
        return None
    return Breathe(
        pattern=pattern,
        cycles=cycles,
        pos=ctx.pos(node),
        pattern_pos=ctx.pos(pattern_node),
        guide=guide,
        guide_pos=ctx.pos(guide_node) if guide_node is not None else None,
        voice_cycles=voice_cycles,
        ramp=ramp,
        for_ms=for_ms,
        level=level,
    )


def _pattern(node: Node, ctx: Ctx, what: str) -> Pattern | None:
    raw: object
    if isinstance(node, ScalarNode):
        raw = node.value
    elif isinstance(node, MappingNode):
        entries = read_mapping(node, ctx, f"'{what}'")
        if entries is None:
            return None
        raw = {}
        for key, (_, value_node) in entries.items():
            if not isinstance(value_node, ScalarNode):
                ctx.error(value_node, f"{what} {key} must be a number of seconds, e.g. {key}: 4")
                return None
            raw[key] = _number(value_node.value)
    else:
        ctx.error(node, f"'{what}' must be a pattern such as 4-6, 4-7-8, box or "
                        "{inhale: 4, hold: 7, exhale: 8}, not a list")
        return None
    try:
        return cadence.parse_pattern(raw)
    except CadenceError as exc:
        ctx.error(node, f"{what}: {exc}" if what != "pattern" else str(exc))
        return None


def _number(text: str) -> object:
    """A YAML scalar as the number it reads as (so messages show 4, not '4'), else as written."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _ramp(node: Node, ctx: Ctx) -> Ramp | None:
    entries = read_mapping(node, ctx, "'ramp'")
    if entries is None:
        return None
    before = len(ctx.problems)
    check_keys(entries, RAMP_KEYS, ctx, "'ramp'")
    for key in RAMP_KEYS:
        if key not in entries:
            ctx.error(node, f"'ramp' needs '{key}', e.g. ramp: {{to: 4-8, over: 6}}")
    to = _pattern(entries["to"][1], ctx, "ramp 'to'") if "to" in entries else None
    over = _whole(entries["over"][1], ctx, "ramp 'over'", least=1) if "over" in entries else None
    if len(ctx.problems) > before or to is None or over is None:
        return None
    return Ramp(to, over)


def _choice(node: Node, ctx: Ctx) -> str:
    word = node.value.strip().lower() if isinstance(node, ScalarNode) else ""
    if word in cadence.GUIDES:
        return word
    shown = f"'{node.value}'" if isinstance(node, ScalarNode) else "a list or mapping"
    ctx.error(node, f"unknown guide {shown}{suggest(word, cadence.GUIDES)}; "
                    f"use one of {', '.join(cadence.GUIDES)}")
    return DEFAULT_GUIDE


def _whole(node: Node, ctx: Ctx, what: str, least: int) -> int | None:
    text = node.value.strip() if isinstance(node, ScalarNode) else ""
    # ASCII only: '²'.isdigit() is true but int('²') fails; and int() refuses thousands of digits.
    if text.isascii() and text.isdigit() and len(text) <= 100 and int(text) >= least:
        return int(text)
    shown = f"'{node.value}'" if isinstance(node, ScalarNode) else "a list or mapping"
    if len(shown) > 40:
        shown = shown[:36] + "...'"
    ctx.error(node, f"{what} must be a whole number, {least} or more, not {shown}")
    return None


def _for_message(message: str, pattern: Pattern, ramp: Ramp | None) -> str:
    return message if ramp is None else f"{message} (the ramp starts from {pattern.label()})"
