"""`to-spice` decks run in the ngspice CLI and print what `verify` measures (issue 16, item 4).

`ngspice -b deck.cir` runs the deck's `.control` block (after `.end`, netlist/spice.py
``CONTROL``) and prints ``gain_db``, ``ugf_hz`` and ``pm_deg`` under a "cktgen-eda
measurements:" line. The block applies measure.py's rules, so the two agree up to the
printed precision: meas keeps 7 significant digits. The tolerances below are set from that
with a wide margin (worst seen on 2,000 random decks: 5.0e-5 dB, 4.9e-7, 5.2e-5°; see
docs/simulation.md, "Running a deck in ngspice"). Our own runs never execute the block.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
from helpers import EXAMPLES, random_circuits

from cktgen_eda.circuit import Circuit, Node, load_circuit
from cktgen_eda.netlist import ngspice
from cktgen_eda.netlist.ngspice import SimJob, job_for, simulate, verify
from cktgen_eda.netlist.spice import CONTROL, write_spice

GAIN_DB = 1e-3  # dB, absolute
UGF_REL = 1e-5  # relative
PM_DEG = 1e-3  # degrees, on the circle (180° and −180° are one phase margin)
HEADER = "cktgen-eda measurements:"
NGSPICE = shutil.which("ngspice")
needs_cli = pytest.mark.skipif(
    NGSPICE is None, reason="the ngspice executable is not on PATH (Debian package ngspice)"
)


def read_printout(stdout: str) -> dict[str, float | None]:
    """``gain_db``, ``ugf_hz``, ``pm_deg`` from what the deck printed (None for "none")."""
    if HEADER not in stdout:
        raise ValueError(f"no {HEADER!r} line: the sweep did not run")
    found = re.findall(r"^(gain_db|ugf_hz|pm_deg) = (\S+)$", stdout.split(HEADER, 1)[1], re.M)
    values = {key: None if text == "none" else float(text) for key, text in found}
    if sorted(values) != ["gain_db", "pm_deg", "ugf_hz"] or len(found) != 3:
        raise ValueError(f"expected gain_db, ugf_hz and pm_deg once each, found {found}")
    return values


def run_cli(deck: str, folder) -> subprocess.CompletedProcess:
    """``ngspice -b deck.cir`` in ``folder``, which is also HOME (no user .spiceinit)."""
    folder.mkdir(exist_ok=True)
    path = folder / "deck.cir"
    path.write_text(deck)
    env = dict(os.environ, HOME=str(folder))
    cmd = [NGSPICE, "-b", path.name]
    return subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=60)


def test_printed_lines_parse():
    """The block's two printouts, as ngspice 39 writes them (amplifier; no 0 dB crossing)."""
    ran = (
        "No. of Data Rows : 1101\ngain_db             =  1.339783e+02\n"
        "ugf_hz              =  3.244248e+08\n\ncktgen-eda measurements:\n"
        "gain_db = 1.3397830e+02\nugf_hz = 3.2442480e+08\npm_deg = 7.6028852e+01\n"
        "ngspice-39 done\n"
    )
    assert read_printout(ran) == {"gain_db": 133.9783, "ugf_hz": 3.244248e8, "pm_deg": 76.028852}
    none = "\ncktgen-eda measurements:\ngain_db = -2.000000e+01\nugf_hz = none\npm_deg = none\n"
    assert read_printout(none) == {"gain_db": -20.0, "ugf_hz": None, "pm_deg": None}
    with pytest.raises(ValueError, match="did not run"):
        read_printout("cktgen-eda: the AC sweep did not run (see the messages above)\n")
    for line in ("print gain_db", "print ugf_hz pm_deg", "echo ugf_hz = none", "echo " + HEADER):
        assert f"\n{line}\n" in CONTROL or f"  {line}\n" in CONTROL


def test_simulated_deck_of_a_to_spice_file_has_no_control_block(tmp_path, two_stage):
    path = tmp_path / "amp.cir"
    path.write_text(write_spice(two_stage))
    assert ".control" not in job_for(path).deck and ".control" not in job_for(two_stage).deck


def test_worker_sends_lines_up_to_the_first_end_only():
    lines = ["* title .end", "R1 a 0 1", ".ends", ".endc", ".END  ", ".control", ".end"]
    assert ngspice._end_index(lines) == 4
    assert ngspice._end_index(["* t", "R1 a 0 1", ".end\t* done"]) == 2
    assert ngspice._end_index(["* t", "R1 a 0 1"]) is None


@pytest.mark.ngspice
def test_control_block_never_runs_in_our_simulations(tmp_path):
    """A to-spice deck sent as it is: the block after .end (here one that would touch a
    file) neither runs nor leaks into the next deck of the same worker."""
    marker = tmp_path / "ran"
    a, b = random_circuits(2, seed=3)
    evil = write_spice(a).replace(CONTROL, f".control\nshell touch {marker}\n.endc\n")
    jobs = [SimJob(evil, keep_sweep=True), SimJob(write_spice(b), keep_sweep=True)]
    got = simulate(jobs, workers=1)
    want = verify([a, b], workers=1, keep_sweep=True)
    assert not marker.exists()
    for g, w in zip(got, want):
        assert g.error is None and (g.h == w.h).all()


@pytest.mark.ngspice
@needs_cli
def test_ngspice_cli_prints_what_verify_measures_on_100_random_decks(tmp_path):
    circuits = random_circuits(100, seed=0)
    measured = [r.measurement for r in verify(circuits, workers=2)]
    with ThreadPoolExecutor(2) as pool:  # two ngspice processes at a time
        runs = list(
            pool.map(run_cli, map(write_spice, circuits), [tmp_path / f"{k}" for k in range(100)])
        )
    worst = {"gain_db": 0.0, "ugf_rel": 0.0, "pm_deg": 0.0}
    for k, (run, m) in enumerate(zip(runs, measured)):
        assert run.returncode == 0, f"deck {k}: {run.stdout[-800:]}{run.stderr[-800:]}"
        got = read_printout(run.stdout)
        if m.gain_db is not None:
            worst["gain_db"] = max(worst["gain_db"], abs(got["gain_db"] - m.gain_db))
        assert (got["ugf_hz"] is not None) == m.valid, f"deck {k}: {got} vs {m.reason}"
        if m.valid:
            worst["ugf_rel"] = max(worst["ugf_rel"], abs(got["ugf_hz"] / m.ugf_hz - 1))
            worst["pm_deg"] = max(
                worst["pm_deg"], abs((got["pm_deg"] - m.pm_deg + 180) % 360 - 180)
            )
    assert 0 < sum(m.valid for m in measured) < 100  # both printouts are exercised
    limits = {"gain_db": GAIN_DB, "ugf_rel": UGF_REL, "pm_deg": PM_DEG}
    assert all(worst[key] <= limits[key] for key in worst), worst


@pytest.mark.ngspice
@needs_cli
def test_ngspice_cli_edge_cases_and_exit_status(tmp_path):
    """A 0 Ω short from in to out sits at 0 dB from the first sample (verify: UGF 1 Hz,
    PM 180°, which meas alone cannot find); a deck whose sweep fails exits 1."""
    short = Circuit(
        (Node(0, 0), Node(6, 2, gm=1e-2), Node(2, 7, r=0.0), Node(1, 1)),
        ((0, 1), (0, 2), (1, 3), (2, 3)),
    ).validate()
    run = run_cli(write_spice(short), tmp_path / "short")
    assert run.returncode == 0
    assert read_printout(run.stdout) == {"gain_db": 0.0, "ugf_hz": 1.0, "pm_deg": 180.0}
    m = verify([short])[0].measurement
    assert (m.gain_db, m.ugf_hz, m.pm_deg) == (0.0, 1.0, 180.0)

    amp = write_spice(load_circuit(EXAMPLES / "two_stage_miller.json"))
    floating = amp.replace("RL1 n1 0 1Meg\n", "").replace("CL1 n1 0 50f\n", "")
    run = run_cli(floating.replace("C2 n1 out 500f\n", ""), tmp_path / "floating")
    assert run.returncode == 1 and "the AC sweep did not run" in run.stdout
    assert HEADER not in run.stdout
