"""The master stage's paths, measured: a plain gain, light limiting, pressing harder.

Sessions are spoken by the fake engine; a synthetic "bed" layer with a controllable
spike lets each path be reached on purpose.  Every result is checked by measuring
what the master actually produces (streaming BS.1770 and sample peaks).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from legsup_audio.render import master as M
from legsup_audio.pipeline import build, mix
from legsup_audio.render.mix import Mix

SCRIPT = """\
title: Master test
steps:
  - title: One
    cues:
      - Let your shoulders soften as you breathe out.
      - pause: 2s
      - Feel the floor carry the weight of your back.
      - Rest here, nothing to do.
"""


class Spike:
    """A quiet steady tone, plus one loud burst placed on a voice peak.

    Its 97 Hz is unrelated to the fake voice's 220 Hz: the master plans loudness
    by adding the energies of independent layers, as a bed and a voice are.
    """

    channels = 1

    def __init__(self, total: int, at: int, level: float, burst: float) -> None:
        self.total, self.at, self.level, self.burst = total, at, level, burst

    def render(self, start: int, n: int) -> np.ndarray:
        idx = np.arange(start, start + n)
        out = self.level * np.sin(2 * np.pi * 97 * idx / 44100)
        near = np.abs(idx - self.at) < 441
        out[near] += self.burst * np.sign(np.sin(2 * np.pi * 97 * idx[near] / 44100) + 1e-9)
        return out.astype(np.float32)[:, None]


@pytest.fixture
def session(fake_workdir: Path):  # type: ignore[no-untyped-def]
    (fake_workdir / "m.yaml").write_text(SCRIPT, encoding="utf-8")
    return build(fake_workdir / "m.yaml")


def finished(source: M.Mastered) -> M.Loudness:
    return M.measure(source)


def test_plain_gain_for_a_voice_only_session(session) -> None:  # type: ignore[no-untyped-def]
    source, before = M.master(mix(session))
    assert source.limit is False
    after = finished(source)
    assert after.integrated == pytest.approx(-16.0, abs=0.05)
    assert after.peak <= M.CEILING_DBTP + 0.01


def test_a_small_overshoot_is_measured_only_where_it_may_be_limited(session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    voice_mix = mix(session)
    source, before = M.master(voice_mix)
    peak_frame = int(np.argmax(np.abs(np.concatenate(
        [voice_mix.render(s, min(44100, voice_mix.total - s))[:, 0] for s in range(0, voice_mix.total, 44100)]))))
    # A burst on the voice's peak that pushes the sum ~1 dB over the ceiling at the planned gain.
    target_amp = 10 ** ((M.CEILING_DBTP + 1.0) / 20) / source.gain
    voice_peak = 10 ** (before.peak / 20)
    bed = Spike(voice_mix.total, peak_frame, 1e-4, target_amp - voice_peak)
    both = Mix(session.timeline, [*voice_mix.layers, bed])
    rendered: list[int] = []
    real_render = both.render
    monkeypatch.setattr(both, "render", lambda start, n: rendered.append(n) or real_render(start, n))
    result, planned = M.master(both)
    assert source.gain_db + planned.peak > M.CEILING_DBTP  # the planned peak bound calls for the limiter
    assert result.limit is True
    # Only the steps around the burst were rendered to measure the limiter's effect.
    assert 0 < sum(rendered) <= 0.25 * both.total
    monkeypatch.setattr(both, "render", real_render)
    after = M.measure(result)
    assert after.integrated == pytest.approx(-16.0, abs=0.1)
    assert result.expected_lufs == pytest.approx(after.integrated, abs=0.05)
    assert after.peak <= M.CEILING_DBTP + 0.01


def test_a_large_overshoot_is_pressed_and_measured_to_the_target(session) -> None:  # type: ignore[no-untyped-def]
    voice_mix = mix(session)
    source, before = M.master(voice_mix)
    # A steady bed loud enough to count in the gate, with a burst 6 dB over the ceiling.
    bed = Spike(voice_mix.total, voice_mix.total // 2, 10 ** (-38 / 20), 10 ** ((M.CEILING_DBTP + 6) / 20) / source.gain)
    result, _ = M.master(Mix(session.timeline, [*voice_mix.layers, bed]))
    after = M.measure(result)
    assert result.limit is True
    assert after.peak <= M.CEILING_DBTP + 0.01
    assert after.integrated == pytest.approx(-16.0, abs=0.2)
    assert result.expected_lufs == pytest.approx(after.integrated, abs=0.2)


BED_SCRIPT = """\
title: Kept analysis
background:
  drone: {note: C3, level: -24dB}
  noise: {color: brown, level: -30dB}
steps:
  - title: One
    duration: 40s
    cues:
      - Let your shoulders soften as you breathe out.
      - at: 20s
        say: Feel the floor carry the weight of your back.
"""


def test_a_kept_analysis_gives_the_same_master_without_rendering(fake_workdir: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from legsup_audio.render.analysis import AnalysisStore

    (fake_workdir / "bed.yaml").write_text(BED_SCRIPT, encoding="utf-8")
    session = build(fake_workdir / "bed.yaml")
    store = AnalysisStore(fake_workdir / "cache")
    first, _ = M.master(mix(session), store=store)
    assert first.limit is True  # a bed this loud calls for the limiter: the model is kept too
    [kept] = list((fake_workdir / "cache" / "analysis").glob("*.npz"))

    again = mix(session)
    rendered: list[int] = []
    real_render = again.render
    monkeypatch.setattr(again, "render", lambda start, n: rendered.append(n) or real_render(start, n))
    monkeypatch.setattr(M, "profiles", lambda *a, **k: pytest.fail("the kept analysis was not used"))
    second, _ = M.master(again, store=store)
    assert rendered == []
    assert (second.gain_db, second.limit, second.expected_lufs) == (first.gain_db, first.limit, first.expected_lufs)
    # Another target (a WAV export or a play after an MP3 export) uses it too.
    other, _ = M.master(mix(session), target_lufs=-15.56, store=store)
    assert other.gain_db > first.gain_db

    # A damaged entry is made again, to the same result.
    monkeypatch.undo()
    kept.write_bytes(kept.read_bytes()[:200])  # a truncated zip: what a full disk or a kill leaves
    third, _ = M.master(mix(session), store=store)
    assert (third.gain_db, third.expected_lufs) == (first.gain_db, first.expected_lufs)
    assert kept.read_bytes()[:2] == b"PK"


def test_another_clip_or_timeline_is_another_analysis(fake_workdir: Path) -> None:
    from legsup_audio.render.analysis import fingerprint

    (fake_workdir / "bed.yaml").write_text(BED_SCRIPT, encoding="utf-8")
    (fake_workdir / "other.yaml").write_text(BED_SCRIPT.replace("at: 20s", "at: 21s"), encoding="utf-8")
    (fake_workdir / "said.yaml").write_text(BED_SCRIPT.replace("the weight", "all the weight"), encoding="utf-8")
    keys = {fingerprint(mix(build(fake_workdir / name))) for name in ("bed.yaml", "other.yaml", "said.yaml")}
    assert len(keys) == 3 and None not in keys
    assert fingerprint(mix(build(fake_workdir / "bed.yaml"))) in keys  # and the same mix, the same one


def test_the_analysis_folder_keeps_the_recently_used_within_its_budget(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import os

    from legsup_audio.render import analysis

    store = analysis.AnalysisStore(tmp_path)
    noise = np.random.default_rng(0).random(40_000)  # incompressible: about 320 kB per entry
    monkeypatch.setattr(analysis, "KEEP_BYTES", 1_000_000)  # room for three
    for n, key in enumerate("abcde"):
        store.save(key, {"x": noise})
        os.utime(store.root / f"{key}.npz", ns=(n * 10**9, n * 10**9))  # saved a second apart
        if key == "c":
            assert store.load("a") is not None  # "a" is used again: it counts as the newest
            assert (store.root / "a.npz").stat().st_mtime_ns > 2 * 10**9
    kept = sorted(path.stem for path in store.root.glob("*.npz"))
    assert kept == ["a", "d", "e"]  # b and c were the least recently used
    # Temporary files: one a killed process left long ago goes, one being written now stays.
    (store.root / ".tmp-old.npz").write_bytes(b"PK")
    os.utime(store.root / ".tmp-old.npz", ns=(10**9, 10**9))
    (store.root / ".tmp-now.npz").write_bytes(b"PK")
    store.prune()
    assert sorted(path.name for path in store.root.glob(".tmp-*")) == [".tmp-now.npz"]
    (store.root / ".tmp-now.npz").unlink()

    future = 4_000_000_000 * 10**9  # an entry from a machine whose clock runs ahead
    os.utime(store.root / "e.npz", ns=(future, future))
    monkeypatch.setattr(analysis, "KEEP_BYTES", 0)
    store.save("f", {"x": noise})
    assert sorted(path.stem for path in store.root.glob("*.npz")) == ["f"]  # the one just saved always stays


def _whole_array_loudness(model: M.LimiterModel, gain_db: float) -> float:
    """The model's loudness with its filters run over every bin of the session (what it must equal)."""
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    from legsup_audio.dsp import integrated

    gain = 10 ** (gain_db / 20)
    hot = model._hot(gain)
    energies = model.planned.energies * gain * gain
    need = np.minimum(1.0, model.ceiling / gain / np.maximum(model.peaks.astype(np.float64), 1e-12))
    need[~hot] = 1.0
    held = minimum_filter1d(need.reshape(-1), model.hold, mode="nearest")
    limit = uniform_filter1d(held, model.smooth, mode="nearest").reshape(need.shape)
    limited = (limit**2 * model.energies).sum(axis=1) * gain * gain
    energies[hot] = limited[hot]
    return integrated(energies, model.step)


def test_the_limiter_model_stretch_by_stretch_is_the_model_over_the_whole_session(fake_workdir: Path) -> None:
    (fake_workdir / "bed.yaml").write_text(BED_SCRIPT, encoding="utf-8")
    the_mix = mix(build(fake_workdir / "bed.yaml"))
    parts = M.profiles(the_mix)
    count = the_mix.total // (the_mix.rate // 10)
    planned = M._total(parts, count)
    bed = M._total([part for part, layer in zip(parts, the_mix.layers) if getattr(layer, "background", False)], count)
    model = M.LimiterModel(the_mix, planned, 10 ** (M.CEILING_DBTP / 20), M.limiter_window(the_mix.rate), bed=bed)
    safe = M.CEILING_DBTP - 20 * np.log10(planned.peaks.max())
    for gain_db in (safe - 1, safe + 2, safe + 6, safe + 12):  # from no limiting to a lot
        got = model.loudness(gain_db)
        assert abs(got - _whole_array_loudness(model, gain_db)) < 1e-6, gain_db
    assert model.measured.any() and not model.measured.all()  # stretches, not the whole session
