"""Real ngspice through the worker pool: analytic circuits, failure isolation, recycling."""

from __future__ import annotations

import math
import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cktgen_eda.circuit import Circuit, Node
from cktgen_eda.netlist import ngspice, workers
from cktgen_eda.netlist.ngspice import SimJob, ngspice_version, simulate, verify
from cktgen_eda.spec import parse_spec

pytestmark = pytest.mark.ngspice

RC = """* RC low-pass, R = 1k, C = 1n
V0 in 0 DC 0 AC 1
R1 in out 1k
C1 out 0 1n
.ac dec 100 1 100G
.end
"""
BAD = RC.replace("R1 in out 1k", "R1 in out 1k\nQ1 out in")  # not enough nodes
HANG = RC.replace(".ac dec 100 1 100G", ".tran 1f 1 0 1f")  # 10^15 forced time steps
CRASH = RC.replace(".end", ".control\nquit\n.endc\n.end")  # quit kills libngspice (SIGSEGV)
R_LOAD, C_LOAD = 1e6, 50e-15  # every gm cell's load (docs/benchmark.md §4.1)


def crossing_hz(freq: np.ndarray, h: np.ndarray, level_db: float) -> float:
    """Where a falling |H| passes ``level_db``, interpolating dB linearly in log f."""
    db = 20 * np.log10(np.abs(h))
    k = int(np.flatnonzero(db < level_db)[0])
    t = (db[k - 1] - level_db) / (db[k - 1] - db[k])
    return 10 ** (np.log10(freq[k - 1]) + t * (np.log10(freq[k]) - np.log10(freq[k - 1])))


def one_gm(type_id: int, gm: float = 1e-3) -> Circuit:
    """Input → one gm stage (pos 2) → output."""
    return Circuit((Node(0, 0), Node(type_id, 2, gm=gm), Node(1, 1)), ((0, 1), (1, 2)))


def test_rc_lowpass_minus_3db_point():
    (r,) = simulate([SimJob(RC, keep_sweep=True)])
    assert r.error is None and r.freq_hz.shape == r.h.shape == (1101,)
    assert r.freq_hz[0] == pytest.approx(1.0) and r.freq_hz[-1] == pytest.approx(1e11)
    fc = 1 / (2 * math.pi * 1e3 * 1e-9)
    assert crossing_hz(r.freq_hz, r.h, -10 * math.log10(2)) == pytest.approx(fc, rel=5e-3)
    assert not r.measurement.valid  # |H| ≤ 1 everywhere: no unity-gain crossing
    assert r.measurement.reason.startswith("no unity-gain crossing")


def test_one_gm_stage_gain_pole_ugf_pm(one_stage):
    (r,) = verify([one_stage], keep_sweep=True)
    m = r.measurement
    gm = one_stage.nodes[1].gm
    a0, fp = gm * R_LOAD, 1 / (2 * math.pi * R_LOAD * C_LOAD)
    assert m.valid and m.gain_db == pytest.approx(20 * math.log10(a0), abs=1e-3)
    assert crossing_hz(r.freq_hz, r.h, m.gain_db - 10 * math.log10(2)) == pytest.approx(
        fp, rel=5e-3
    )
    ugf = fp * math.sqrt(a0**2 - 1)
    assert m.ugf_hz == pytest.approx(ugf, rel=5e-3)
    # +gm inverts: angle(H) = 180° − atan(f/fp), so PM = 360° − atan(...) wraps negative
    assert m.pm_deg == pytest.approx(-math.degrees(math.atan(ugf / fp)), abs=0.5)
    assert m.simulator == ngspice_version()


@pytest.mark.parametrize("type_id, phase_deg", [(6, 180.0), (7, 0.0)])
def test_gm_sign_convention(type_id, phase_deg):
    (r,) = verify([one_gm(type_id)], keep_sweep=True)
    phase = np.degrees(np.angle(r.h[0]))
    assert abs((phase - phase_deg + 180) % 360 - 180) < 0.1  # at 1 Hz, far below the pole


def test_syntax_error_fails_only_that_job():
    results = simulate([SimJob(RC, label="a"), SimJob(BAD, label="bad"), SimJob(RC, label="c")])
    assert [r.error is None for r in results] == [True, False, True]
    bad = results[1]
    assert bad.error.startswith("ngspice failed on bad: Error")
    assert bad.measurement.reason == bad.error and bad.measurement.file == "bad"
    with pytest.raises(ngspice.SimulationError, match="line 4"):
        bad.check()


def test_hung_job_is_killed_and_batch_completes():
    jobs = [SimJob(RC), SimJob(HANG, label="hang"), SimJob(RC), SimJob(RC), SimJob(RC)]
    start = time.monotonic()
    results = simulate(jobs, workers=2, timeout_s=1.0)
    assert time.monotonic() - start < 10
    assert results[1].error == "ngspice timed out after 1 s on hang"
    assert not results[1].measurement.valid
    assert all(r.error is None for i, r in enumerate(results) if i != 1)


def test_crashed_worker_fails_only_that_job():
    results = simulate([SimJob(RC), SimJob(CRASH, label="quit"), SimJob(RC)], workers=1)
    assert results[1].error.startswith("ngspice worker died (signal")
    assert results[0].error is None and results[2].error is None


def test_workers_are_recycled(monkeypatch):
    started = []

    class Counted(workers.Worker):
        def __init__(self, *args):
            super().__init__(*args)
            started.append(self.proc)

    monkeypatch.setattr(workers, "Worker", Counted)
    monkeypatch.setattr(ngspice, "RECYCLE_AFTER", 3)
    circuits = [one_gm(6, gm=k * 1e-4) for k in range(1, 21)]
    results = verify(circuits, workers=2)
    assert len(started) >= 20 // 3
    assert len({p.pid for p in started}) == len(started)
    gains = [r.measurement.gain_db for r in results]
    assert gains == pytest.approx(
        [20 * math.log10(k * 1e-4 * R_LOAD) for k in range(1, 21)], abs=1e-3
    )


def test_verify_labels_spec_paths_and_bad_items(tmp_path, two_stage):
    path = tmp_path / "amp.json"
    two_stage.save(path)
    named = Circuit(two_stage.nodes, two_stage.edges, meta={"name": "miller"})
    results = verify(
        [named, path, tmp_path / "missing.json", one_gm(6)], spec=parse_spec("gain>=30dB")
    )
    assert [r.measurement.file for r in results] == [
        "miller",
        str(path),
        str(tmp_path / "missing.json"),
        "circuit 3",
    ]
    assert results[0].measurement == results[1].measurement.with_file("miller")
    assert results[0].measurement.meets_spec is True
    assert results[2].error.startswith("cannot build a deck") and not results[2].measurement.valid
    assert results[2].measurement.meets_spec is False
    assert results[3].measurement.meets_spec is True
    assert results[0].sim_s > 0


def test_parent_never_loads_libngspice():
    simulate([SimJob(RC)])
    assert "PySpice" not in sys.modules
    maps = Path("/proc/self/maps")
    if maps.exists():
        assert "libngspice" not in maps.read_text()


def test_version_and_arguments():
    assert re.fullmatch(r"ngspice-\d+", ngspice_version())
    assert simulate([]) == []
    with pytest.raises(ValueError, match="workers"):
        simulate([SimJob(RC)], workers=0)


def test_mixed_batch_with_crashes_hangs_and_recycling(monkeypatch):
    """Pool bookkeeping: every job gets its own result, whatever its neighbours do."""
    monkeypatch.setattr(ngspice, "RECYCLE_AFTER", 5)
    kinds = ["ok"] * 34 + ["crash", "hang", "bad", "crash", "bad", "ok"]
    kinds = kinds[::2] + kinds[1::2]  # spread the failures out
    decks = {"crash": CRASH, "hang": HANG, "bad": BAD}
    jobs = [
        SimJob(decks.get(k, RC.replace("1n", f"{i + 1}n")), label=f"{k}{i}", keep_sweep=True)
        for i, k in enumerate(kinds)
    ]
    results = simulate(jobs, workers=2, timeout_s=0.5)
    expected_error = {"crash": "worker died", "hang": "timed out", "bad": "ngspice failed"}
    for i, (k, r) in enumerate(zip(kinds, results)):
        assert r.measurement.file == f"{k}{i}"
        if k == "ok":  # the right sweep came back for the right job
            fc = 1 / (2 * math.pi * 1e3 * (i + 1) * 1e-9)
            assert crossing_hz(r.freq_hz, r.h, -10 * math.log10(2)) == pytest.approx(fc, rel=5e-3)
        else:
            assert expected_error[k] in r.error
