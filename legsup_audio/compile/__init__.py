"""Stage 3, compile: a ``CueScript`` and spoken lengths into a ``Timeline`` of timed events.

Pure data in integer milliseconds: no audio, no speech engine (it takes a text -> ms
function).  Imports only the script stage and the shared leaves.
"""
