"""Sharing exported sessions with a phone over the local network: a private podcast feed.

``library`` finds what a folder holds and reads each track back from its own tags;
``feed`` turns that into an RSS 2.0 podcast feed (itunes and Podcasting 2.0
namespaces) and JSON chapters; ``server`` serves the feed and the files, read-only,
with ranges and ETags; ``command`` is the ``legsup serve`` command.  Nothing here
renders or writes audio: it reads what ``legsup export`` left in the folder.
"""
