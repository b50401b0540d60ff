"""The clip cache trusts an entry only when it belongs to its key (issue #17).

Each entry carries its key inside the checksummed entry: two valid entries swapped
(or one copied under another's name) are made again, never played as the wrong
text.  Something of the wrong type where an entry or its folder belongs is replaced;
temporary files left by a killed process are swept once they are a few minutes old.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

import legsup_audio.speech.cache as cache_mod
from legsup_audio.speech.base import Clip
from legsup_audio.speech.cache import ClipCache, read_clip


def clip(value: int, frames: int = 441) -> Clip:
    return Clip(np.full(frames, value, dtype=np.int16), 44100)


KEY_A, KEY_B = "ab" + "1" * 62, "ab" + "2" * 62


def test_swapped_entries_are_refused_and_made_again(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path)
    a, b = cache.put(KEY_A, clip(100)), cache.put(KEY_B, clip(200))
    assert cache.get(KEY_A) == a and read_clip(a.path) is not None
    data_a, data_b = a.path.read_bytes(), b.path.read_bytes()
    a.path.write_bytes(data_b)
    b.path.write_bytes(data_a)
    assert cache.get(KEY_A) is None and cache.get(KEY_B) is None  # each holds the other's key
    assert read_clip(a.path) is None
    again = cache.put(KEY_A, clip(100))
    loaded = read_clip(again.path)
    assert loaded is not None and int(loaded.samples[0]) == 100


def test_a_folder_or_fifo_where_an_entry_belongs_is_replaced(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path)
    path = cache.path_for(KEY_A)
    (path / "junk").mkdir(parents=True)
    ref = cache.put(KEY_A, clip(7))
    assert path.is_file() and read_clip(ref.path) is not None and cache.get(KEY_A) is not None
    os.unlink(path)
    os.mkfifo(path)
    cache.put(KEY_A, clip(7))
    assert path.is_file() and cache.get(KEY_A) is not None


def test_a_file_where_the_shard_folder_belongs_is_replaced(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path)
    shard = cache.path_for(KEY_B).parent
    shard.write_bytes(b"not a folder")
    cache.put(KEY_B, clip(3))
    assert shard.is_dir() and cache.get(KEY_B) is not None


def test_stale_temporary_files_are_swept_fresh_ones_kept(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path)
    shard = cache.path_for(KEY_A).parent
    shard.mkdir(parents=True)
    old, fresh, other = shard / ".tmp-old.wav", shard / ".tmp-fresh.wav", shard / "keep.txt"
    for path in (old, fresh, other):
        path.write_bytes(b"x")
    past = time.time() - cache_mod.STALE_SECONDS - 60
    os.utime(old, (past, past))
    os.utime(other, (past, past))
    cache_mod._swept.discard(shard)
    cache.put(KEY_A, clip(1))
    assert not old.exists() and fresh.exists() and other.exists()
