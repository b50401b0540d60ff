"""Stage 5, output: a mastered mix into files (encoded audio, tags, cover, sidecars,
playlists) and copies of them on a phone or a folder.

Every file is written through the one atomic writer in ``output.files``.
"""
