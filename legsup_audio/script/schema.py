"""The JSON Schema of the cue-script format, for editors and other tools.

Owns one description of SPEC sections 2-4 (the script, its steps and cues,
``breathe:`` blocks, ``background:`` beds) plus the ``version``, ``language``,
``album``, ``cover`` and ``recordings`` keys, as a JSON Schema (draft 2020-12) built from plain
data.  ``legsup schema`` prints it; every built-in script folder carries a copy
as ``cue-script.schema.json`` so the ``# yaml-language-server: $schema=...``
comment at the top of each script resolves beside it, and editors complete keys
and flag mistakes while you type.

The schema is a helper, not the judge: ``parse`` remains the authority and
reports what a schema cannot express (YAML syntax, duplicate step ids, ``at``
moving backwards, unknown voice profiles, timing).  It is written for YAML 1.2
readers (editors) and PyYAML alike: a duration such as ``1:30`` is a string in
one and a number in the other, and both are accepted.
"""

from __future__ import annotations

import json
from typing import Any

#: The file name every script folder uses for its copy of the schema.
SCHEMA_FILE = "cue-script.schema.json"
#: The first line of the built-in scripts and of `legsup new` output.
MODELINE = f"# yaml-language-server: $schema={SCHEMA_FILE}"
SCHEMA_ID = "https://legsup-audio.invalid/cue-script-1.schema.json"

_NUM = r"(?:\d+(?:\.\d*)?|\.\d+)"
_DURATION_TEXT = (
    rf"^\s*(?:\+?{_NUM}"  # a plain number of seconds, written as text
    r"|\d+:[0-5]?\d(?:\.\d+)?"  # m:ss
    r"|\d+:[0-5]\d:[0-5]\d(?:\.\d+)?"  # h:mm:ss
    rf"|(?:\s*{_NUM}\s*(?:[mM][sS]|[hHmMsS])\s*)+)\s*$"  # 1h, 2m, 1m30s, 1.5s, 250ms
)
_LEVEL_TEXT = r"^\s*(?:-\s*\d+(?:\.\d+)?|-?0+(?:\.0+)?)\s*(?:[dD][bB])?\s*$"  # -30dB, -30, 0dB
_PATTERN_TEXT = rf"^\s*{_NUM}(?:\s*-\s*{_NUM}){{1,3}}\s*$"  # 4-6, 4-7-8, 4-4-4-4
_TEXT_PRESENT = r"\S"


def _text(description: str) -> dict[str, Any]:
    """Non-empty text; numbers and booleans are read as written, as the parser does."""
    return {
        "description": description,
        "anyOf": [{"type": "string", "pattern": _TEXT_PRESENT}, {"type": ["number", "boolean"]}],
    }


def _duration(description: str) -> dict[str, Any]:
    return {
        "description": description + " Written like 1.5s, 90s, 2m, 1m30s, 250ms, 1h, 1:30, or seconds.",
        "anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": _DURATION_TEXT}],
    }


def _level(description: str = "Loudness relative to the voice in dB, at most 0: -30dB sounds 30 dB (LU) under "
                               "the voice while it speaks.") -> dict[str, Any]:
    return {"description": description,
            "anyOf": [{"type": "number", "maximum": 0}, {"type": "string", "pattern": _LEVEL_TEXT}]}


def _positive(description: str) -> dict[str, Any]:
    return {"description": description, "type": "number", "exclusiveMinimum": 0}


def _object(properties: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "type": "object", "properties": properties,
            "additionalProperties": False, **extra}


def _breathe() -> dict[str, Any]:
    from legsup_audio.script.cadence import GUIDES, PRESETS

    pattern = {
        "description": "Seconds 'in-out', 'in-hold-out' or 'in-hold-out-hold' (e.g. 4-6, 4-7-8), a name "
                       f"({', '.join(PRESETS)}), or a mapping of the phases.",
        "anyOf": [
            {"type": "string", "enum": list(PRESETS)},
            {"type": "string", "pattern": _PATTERN_TEXT},
            _object({phase: {"anyOf": [{"type": "number", "minimum": 0},
                                       {"type": "string", "pattern": rf"^\s*\+?{_NUM}\s*$"}]}
                     for phase in ("inhale", "hold", "exhale", "hold_out")},
                    "The phases in seconds.", required=["inhale", "exhale"]),
        ],
    }
    return _object(
        {
            "pattern": pattern,
            "cycles": {"description": "How many breaths.", "anyOf": [{"type": "integer", "minimum": 1},
                                                                      {"type": "string", "pattern": r"^\s*0*[1-9]\d*\s*$"}]},
            "for": _duration("Breathe for this long: as many whole cycles as fit, never a cut one."),
            "guide": {"description": "words: the phase words; count: the phase word, then the seconds; "
                                     "tone: a rising and falling tone; silent: nothing.", "enum": list(GUIDES)},
            "voice_cycles": {"description": "Speak the guide for the first N cycles, then tones only.",
                             "type": "integer", "minimum": 0},
            "level": _level("The guide tones' loudness relative to the voice in dB, at most 0 "
                            "(default -12dB: 12 dB under the voice)."),
            "ramp": _object({"to": pattern, "over": {"type": "integer", "minimum": 1,
                                                      "description": "Across this many cycles."}},
                            "Move linearly from `pattern` to `to` across `over` cycles.", required=["to", "over"]),
        },
        "A breathing cadence (SPEC section 3): each phase becomes an event.",
        required=["pattern"],
        # `cycles` and `for` are two ways of saying how long: one of them, not both.
        oneOf=[{"required": ["cycles"]}, {"required": ["for"]}],
        # The voice speaks the first `voice_cycles`, then tones: only with a spoken guide.
        allOf=[{"if": {"required": ["guide"], "properties": {"guide": {"enum": ["tone", "silent"]}}},
                "then": {"not": {"required": ["voice_cycles"]}}}],
    )


_OFF = {"description": "off: silence it for this step.", "anyOf": [
    {"const": False}, {"type": "string", "pattern": r"^\s*(?:[oO][fF][fF]|[nN][oO][nN][eE]|[nN][oO]|[fF][aA][lL][sS][eE])\s*$"}]}


def _background(step_level: bool) -> dict[str, Any]:
    def layer(properties: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
        body = _object({**properties, "level": _level()}, description, **extra)
        return {"anyOf": [body, _OFF]} if step_level else body

    hz = _positive("Frequency in Hz.")
    note = {"type": "string", "pattern": r"^\s*[A-Ga-g](?:##|#|\u266f|bb|b|\u266d)?-?\d{1,2}\s*$",
            "description": "A note name like A2 or C#3."}
    pitch = [{"required": ["note"]}, {"required": ["freq"]}]
    bells_at = {
        "description": "'steps': a bell at every step start and at the end; or a list of step ids.",
        "anyOf": [{"const": "steps"}, {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": _TEXT_PRESENT}}],
    }
    layers = {
        "drone": layer({"note": note, "freq": hz}, "A steady tone.", oneOf=pitch),
        "binaural": layer({"carrier": hz, "beat": _positive("Beat in Hz: right = carrier + beat.")},
                          "A binaural beat (stereo).", required=["carrier", "beat"]),
        "isochronic": layer({"freq": hz, "note": note, "rate": _positive("Pulses per second.")},
                            "A pulsing tone.", required=["rate"], oneOf=pitch),
        "noise": layer({"color": {"type": "string", "pattern": r"^\s*(?:[wW]hite|[pP]ink|[bB]rown|WHITE|PINK|BROWN)\s*$",
                                  "description": "white, pink (default) or brown."}}, "Noise."),
        "music": layer({"file": _text("An audio file (MP3, WAV, OGG, FLAC), relative to the script."),
                        "loop": {"description": "Repeat the file to fill the session (default true).",
                                 "anyOf": [{"type": "boolean"}, {"enum": ["true", "false", "yes", "no", "on", "off"]}]}},
                       "A music or sound file.", required=["file"]),
        "bells": layer({"at": bells_at, "note": note, "freq": hz,
                        "lead": _duration("How long the bell rings before the step's first word (default 3s).")}
                       if not step_level else {"note": note, "freq": hz},
                       "A singing bowl: it opens each step it marks (the voice enters under its bloom) and "
                       "rings out at the end; its level is a strike's loudest 400 ms relative to the voice."),
    }
    settings = {
        "fade_in": _duration("Fade the bed in over this long."),
        "fade_out": _duration("Fade the bed out over this long."),
        "duck": {"description": "How far the bed dips while the voice speaks, e.g. 6dB.",
                 "anyOf": [{"type": "number"},
                           {"type": "string", "pattern": r"^\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)\s*(?:[dD][bB])?\s*$"}]},
    }
    body = _object(
        layers if step_level else {**layers, **settings},
        "Background sound (SPEC section 4)" + (": replaces the layers it names for this step." if step_level else "."),
    )
    if step_level:
        return {"anyOf": [body, _OFF]}
    return body


def _cue() -> dict[str, Any]:
    say = _text("What to say.")
    mapping = _object(
        {
            "say": say,
            "gap": _duration("Silence after this cue instead of the script's `gap`."),
            "at": _duration("Start exactly this long after the step starts."),
            "pause": _duration("Silence: move on by this long."),
        },
        "A cue with options: say (with gap and at), pause, or at alone (wait until then).",
        minProperties=1,
        allOf=[
            {"not": {"required": ["say", "pause"]}},
            {"not": {"required": ["pause", "at"]}},
            {"not": {"required": ["pause", "gap"]}},
            {"if": {"required": ["gap"]}, "then": {"required": ["say"]}},
            {"anyOf": [{"required": ["say"]}, {"required": ["pause"]}, {"required": ["at"]}]},
        ],
    )
    return {"anyOf": [{**say, "description": "Say this, then wait `gap`."}, mapping]}


def _step() -> dict[str, Any]:
    return _object(
        {
            "title": _text("The step's title; becomes the chapter title."),
            "id": {"description": "Unique step id (default: a slug of the title).", "anyOf": [
                {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_-]*$"}, {"type": "integer", "minimum": 0}]},
            "duration": _duration("The step lasts at least this long."),
            "cues": {"description": "What happens in the step, in order.", "type": "array", "minItems": 1,
                     "items": {"$ref": "#/$defs/cue"}},
            "breathe": {"$ref": "#/$defs/breathe"},
            "background": {"$ref": "#/$defs/stepBackground"},
        },
        "One step: a chapter of the session.",
        required=["title"],
        anyOf=[{"required": ["cues"]}, {"required": ["breathe"]}],
    )


def build_schema() -> dict[str, Any]:
    """The JSON Schema of cue scripts, version 1."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "legsup-audio cue script",
        "description": "A voice-guided session: what to say and when. Check it with `legsup validate`.",
        "type": "object",
        "additionalProperties": False,
        "required": ["title", "steps"],
        "properties": {
            "version": {"description": "The format version: 1.", "enum": [1, "1"]},
            "title": _text("The session's title (the track's title)."),
            "author": _text("The track's artist."),
            "album": _text("The album tag (default: legsup-audio)."),
            "cover": _text("A cover image (PNG or JPEG), relative to the script."),
            "language": {"description": "The script's language (e.g. en, es, de); picks a voice profile of that "
                                        "language when `voice` is not given.",
                         "type": "string", "pattern": r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$"},
            "voice": _text("A voice profile (see `legsup voices`)."),
            "recordings": _text("A folder of recorded cues, relative to the script: a cue whose recording is "
                                "there is spoken by it (see `legsup recordings`)."),
            "gap": _duration("Silence after each spoken cue (default 1.5s)."),
            "lead_in": _duration("Silence before the first step (default 1s)."),
            "tail": _duration("Silence after the last step (default 3s)."),
            "background": {"$ref": "#/$defs/background"},
            "steps": {"description": "The steps, at least one.", "type": "array", "minItems": 1,
                      "items": {"$ref": "#/$defs/step"}},
        },
        "$defs": {
            "step": _step(),
            "cue": _cue(),
            "breathe": _breathe(),
            "background": _background(step_level=False),
            "stepBackground": _background(step_level=True),
        },
    }


def schema_json() -> str:
    """The schema as `legsup schema` prints it (and as the copies beside scripts hold it)."""
    return json.dumps(build_schema(), indent=2, ensure_ascii=False) + "\n"
