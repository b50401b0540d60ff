"""Compiling the ``background:`` block (SPEC section 4) into the timeline.

Owns which layers sound in each step (a step's block replaces the script's layers it
names, or turns them all ``off``), the ``bell`` events where the bowl is struck (and the
check that bell step ids exist): a bell opens its step, struck at the step's start, and
the step's first word comes ``lead`` later (``bell_leads``, which the compiler lays out);
the session's last bell gets a tail long enough to ring out, and the per-step plan under
``Timeline.extras["background"]`` that the renderer (``render.bed.track``) follows, so
``legsup timeline --json`` shows what will sound.  It makes no sound itself.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from legsup_audio.compile.timeline import BedPlan, BedSegment, Event, Timeline, event_sort_key
from legsup_audio.errors import Problem
from legsup_audio.model import CueScript, LayerSpec
from legsup_audio.script.blocks.background import (
    BELL_EVENT_MS,
    BELL_RING_OUT_MS,
    DEFAULT_BELL_LEAD_MS,
    CROSSFADE_MS,
    DEFAULT_DUCK_DB,
    DEFAULT_FADE_IN_MS,
    DEFAULT_FADE_OUT_MS,
    KEY,
    Background,
)
from legsup_audio.script.suggest import suggest


def step_layers(script_bed: Background | None, step_bed: Background | None) -> list[LayerSpec]:
    """The layers sounding in a step: the script's, with the step's replacing those it names."""
    if step_bed is not None and step_bed.off:
        return []
    layers = dict(script_bed.layers) if script_bed is not None else {}
    if step_bed is not None:
        layers.update(step_bed.layers)
    return [spec for spec in layers.values() if spec is not None]


def bell_leads(script: CueScript) -> list[int]:
    """Per step, how long its bell rings before its first word (ms); 0 for a step without a bell.

    The compiler starts such a step's cursor this much after the step's start, where
    the bell is struck (``compile_background`` places the strikes).
    """
    script_bed: Background | None = script.get(KEY)
    script_bells = script_bed.layer("bells") if script_bed is not None else None
    params = dict(script_bells.params) if script_bells is not None else {}
    lead = int(params.get("lead", DEFAULT_BELL_LEAD_MS))
    wanted = None if params.get("at", "steps") == "steps" else set(params["at"])
    leads = []
    for step in script.steps:
        step_bed: Background | None = step.get(KEY)
        layers = step_layers(script_bed, step_bed)
        named_here = step_bed is not None and "bells" in dict(step_bed.layers)
        rings = any(spec.kind == "bells" for spec in layers) and (named_here or wanted is None or step.id in wanted)
        leads.append(lead if rings else 0)
    return leads


def compile_background(script: CueScript, timeline: Timeline, problems: list[Problem]) -> Timeline:
    """Add bell events and the bed plan (``extras["background"]``) to ``timeline``."""
    script_bed: Background | None = script.get(KEY)
    step_beds: list[Background | None] = [step.get(KEY) for step in script.steps]
    if script_bed is None and all(bed is None for bed in step_beds):
        return timeline
    file = str(script.path)
    spans = timeline.steps
    segments: list[BedSegment] = []
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
        segments.append(BedSegment(span.id, start, end, tuple(spec for spec in layers if spec.kind != "bells")))
        bell = next((spec for spec in layers if spec.kind == "bells"), None)
        named_here = step_bed is not None and "bells" in dict(step_bed.layers)
        if bell is not None and (named_here or wanted is None or span.id in wanted):
            bells.append(_bell_event(bell, span.start, span.id, timeline.duration))
    duration = timeline.duration
    if script_bells is not None and spans:
        # The last bell rings out before the file ends: the tail grows to hold it.
        duration = max(duration, spans[-1].end + BELL_RING_OUT_MS)
        bells.append(_bell_event(script_bells, spans[-1].end, spans[-1].id, duration))
        if segments:
            last = segments[-1]
            segments[-1] = BedSegment(last.step, last.start, duration, last.layers)
    plan = BedPlan(
        fade_in=_setting(script_bed, "fade_in", DEFAULT_FADE_IN_MS),
        fade_out=_setting(script_bed, "fade_out", DEFAULT_FADE_OUT_MS),
        duck=float(_setting(script_bed, "duck", DEFAULT_DUCK_DB)),
        crossfade=CROSSFADE_MS,
        segments=tuple(segments),
    )
    events = sorted([*timeline.events, *bells], key=event_sort_key)
    extras = tuple((k, v) for k, v in timeline.extras if k != KEY) + ((KEY, plan),)
    return replace(timeline, duration=duration, events=tuple(events), extras=extras)


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
    return replace(timeline, events=tuple(e for e in timeline.events if e.kind != "bell"),
                   extras=tuple((k, v) for k, v in timeline.extras if k != KEY))
