"""Speech: the engine seam, the engines behind it, and the clip cache.

``base`` defines what an engine is; ``pyttsx3_engine`` is the real one (espeak-ng),
``fake`` a deterministic one for fast tests; ``cache`` stores trimmed clips by
content; ``speaker`` is the speak stage that ties them together.
"""
