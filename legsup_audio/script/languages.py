"""Languages: a script's ``language:`` key and the voice profile that speaks it.

Owns reading ``language:`` (a BCP 47-like tag such as ``en``, ``es`` or
``es-419``), choosing a voice profile of that language when the script names
none, and the sample sentences ``legsup voices try`` speaks in each language.
It does not load profiles itself: the caller passes what it knows, a mapping of
profile name to language (or just the names, when languages are unknown).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from yaml.nodes import Node

    from legsup_audio.model import Pos
    from legsup_audio.script.reading import Ctx

LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")

#: What `legsup voices try PROFILE` says when no text is given, by primary language.
SAMPLES = {
    "en": "Let your legs rest against the wall, and breathe slowly.",
    "es": "Deja que la pared sostenga tus piernas, y respira despacio.",
    "de": "Lass die Wand deine Beine tragen, und atme ruhig.",
    "fr": "Laisse le mur porter tes jambes, et respire lentement.",
}


def primary(tag: str) -> str:
    return tag.split("-", 1)[0].lower()


def iso639_2(tag: str | None, *, bibliographic: bool = True) -> str | None:
    """The three-letter ISO 639-2 code of a language tag (``es`` -> ``spa``, ``de`` -> ``ger``),
    or None when the tag names no language ISO 639-2 knows.

    ``bibliographic`` picks the /B form where the two differ (``ger``, ``fre``, ``chi``): the
    list the ID3 standard points at.  The lookup is langcodes' (imported here, when needed:
    a tenth of a second that only exporting pays).
    """
    if not tag:
        return None
    import langcodes

    try:
        return str(langcodes.Language.get(tag).to_alpha3(variant="B" if bibliographic else "T"))
    except (LookupError, ValueError):
        return None


def short_tag(code: str | None) -> str | None:
    """A language code as the shortest tag that names it (``spa`` or ``es-ES`` -> ``es``, ``ger`` ->
    ``de``), as RSS's ``<language>`` wants; None when it names no known language."""
    if not code:
        return None
    import langcodes

    try:
        language = langcodes.Language.get(code)
    except (LookupError, ValueError):
        return None
    return language.language if language.language and language.is_valid() else None


def sample_text(language: str | None) -> str:
    return SAMPLES.get(primary(language or "en"), SAMPLES["en"])


def voice_for_language(language: str, profiles: Mapping[str, str | None]) -> str | None:
    """The profile that speaks ``language``: an exact match, else one named after it, else a primary match."""
    names = sorted(profiles)
    exact = [n for n in names if (profiles[n] or "").lower() == language.lower()]
    named = [n for n in names if n == language.lower() and profiles[n] and primary(profiles[n]) == primary(language)]
    loose = [n for n in names if profiles[n] and primary(profiles[n]) == primary(language)]
    for candidates in (exact, named, loose):
        if candidates:
            return "default" if "default" in candidates else candidates[0]
    return None


def check_language(
    node: Node, ctx: Ctx, voice: str, voice_pos: Pos | None, known_voices: Collection[str] | None
) -> tuple[str | None, str]:
    """Read ``language:``; returns the language and the voice profile to use."""
    from legsup_audio.script.reading import read_text

    language = read_text(node, ctx, "language")
    if language is None:
        return None, voice
    if not LANGUAGE_TAG.match(language):
        ctx.error(node, f"language '{language}' is not a language tag: write it like en, es, de or es-419")
        return None, voice
    if voice_pos is None and isinstance(known_voices, Mapping):
        chosen = voice_for_language(language, known_voices)
        if chosen is None:
            spoken = sorted({lang for lang in known_voices.values() if lang})
            ctx.error(node, f"no voice profile speaks '{language}' (profiles speak: {', '.join(spoken) or 'none'}); "
                      f"add voices/{primary(language)}.yaml with `language: {language}`, or set `voice:`")
            return language, voice
        return language, chosen
    return language, voice
