"""Stage 4, render: a ``Timeline`` and its clips into PCM blocks, analysed and mastered.

Mixing (voice, tones, the background bed in ``bed/``), loudness models and the master
gain.  Imports only earlier stages and the shared leaves.
"""
