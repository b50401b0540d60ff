"""The forked helper: results come back, failures and hangs fall back, no child is left."""

from __future__ import annotations

import os
import time

from legsup_audio.render import forked


def children() -> list[int]:
    """Our direct children that still exist (zombies included)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == os.getpid():
                found.append(int(entry))
    return found


def test_a_result_comes_back_from_the_child() -> None:
    import numpy as np

    before = children()
    with forked.Forked(lambda: (os.getpid(), np.arange(5) * 2)) as job:
        pid, values = job.result(timeout=30)
    assert pid != os.getpid()
    assert values.tolist() == [0, 2, 4, 6, 8]
    assert children() == before


def test_a_failure_in_the_child_is_no_result_and_runs_nothing_of_the_parent(tmp_path) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "cleanup-ran"

    def boom() -> None:
        raise RuntimeError("no")

    try:
        with forked.Forked(boom) as job:
            assert job.result(timeout=30) is None
    finally:
        # Only this process may run this; a child unwinding the parent's stack would too.
        with open(marker, "a") as f:
            f.write("x")
    assert marker.read_text() == "x"


def test_a_child_that_hangs_is_killed_at_the_deadline() -> None:
    before = children()
    started = time.monotonic()
    with forked.Forked(lambda: time.sleep(60)) as job:
        assert job.result(timeout=0.5) is None
    assert time.monotonic() - started < 10
    assert children() == before


def test_the_limiter_model_gives_the_same_bins_forked_or_not(fake_workdir, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    from legsup_audio.render import master as M
    from legsup_audio.pipeline import build, mix

    (fake_workdir / "s.yaml").write_text(
        "title: Fork\nbackground:\n  noise: {color: brown, level: -30dB}\nsteps:\n  - title: One\n    duration: 150s\n"
        "    cues:\n" + "".join(f"      - at: {10 * i}s\n        say: Cue number {i} is here.\n" for i in range(14)),
        encoding="utf-8")
    m = mix(build(fake_workdir / "s.yaml"))
    count = m.total // (m.rate // 10)
    planned = M._total(M.profiles(m), count)
    every_other_second = (np.arange(count) // 10) % 2 == 0  # many stretches, so they are shared out
    models = []
    for fork in (True, False):
        monkeypatch.setattr(forked, "available", lambda fork=fork: fork)
        model = M.LimiterModel(m, planned, 0.5, 441)
        model._measure(every_other_second)
        models.append(model)
    assert np.array_equal(models[0].peaks, models[1].peaks)
    assert np.allclose(models[0].energies, models[1].energies, rtol=1e-6, atol=0)
    assert np.array_equal(models[0].measured, every_other_second)
    assert np.array_equal(models[1].measured, every_other_second)
