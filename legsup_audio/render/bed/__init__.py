"""The background bed: sound layers the renderer streams under the voice.

This package owns the sound of each background layer (drone, binaural beat,
isochronic tone, noise, bells, music) behind one small protocol, ``render.mix.Layer``: an
object with ``channels`` and ``render(start, n)``, which returns float32 samples
``[start, start+n)`` of shape ``(n, channels)`` at the layer's level, as a pure
function of its arguments.  Levels are dB relative to full scale and mean RMS
(bells: peak).  It does not read scripts or timelines and does not fade, duck or
mix; that is the renderer's job.  ``note_to_hz`` turns ``A2`` into 110.0.
"""

from __future__ import annotations

from legsup_audio.render.bed.generators import Bells, Noise, db_to_amplitude
from legsup_audio.render.bed.periodic import Binaural, Drone, Isochronic
from legsup_audio.render.bed.music import Music
from legsup_audio.render.mix import Layer
from legsup_audio.script.blocks.pitch import note_to_hz

__all__ = [
    "Bells",
    "Binaural",
    "Drone",
    "Isochronic",
    "Layer",
    "Music",
    "Noise",
    "db_to_amplitude",
    "note_to_hz",
]
