"""ngspice against an independent numpy nodal solver on random OCB circuits (tests/nodal.py)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from nodal import OCB_FREQ_HZ, solve_testbench

from cktgen_eda.circuit import Circuit, Node
from cktgen_eda.data.generator import sample_circuit
from cktgen_eda.netlist.measure import measure_opamp
from cktgen_eda.netlist.ngspice import SimJob, simulate, verify
from cktgen_eda.netlist.spice import parse_spice, write_spice

N_CIRCUITS = 300
GAIN_DB, UGF_REL, PM_DEG = 0.05, 5e-3, 0.5  # agreement required of every circuit


def pm_gap(a: float, b: float) -> float:
    """|a − b| in degrees, modulo 360 (PM wraps at ±180°)."""
    return abs((a - b + 180.0) % 360.0 - 180.0)


@pytest.fixture(scope="module")
def random_batch():
    rng = random.Random(20240611)
    circuits = [sample_circuit(rng) for _ in range(N_CIRCUITS)]
    return circuits, verify(circuits, keep_sweep=True)


@pytest.mark.ngspice
def test_same_sweep_grid(random_batch):
    _, results = random_batch
    for r in results[:5]:
        np.testing.assert_allclose(r.freq_hz, OCB_FREQ_HZ, rtol=1e-12)


@pytest.mark.ngspice
def test_ngspice_agrees_with_nodal_solver(random_batch):
    circuits, results = random_batch
    assert all(r.error is None for r in results)
    valid = 0
    for i, (circuit, r) in enumerate(zip(circuits, results)):
        ref = measure_opamp(OCB_FREQ_HZ, solve_testbench(circuit))
        got = r.measurement
        where = f"circuit {i}: {circuit.to_json(indent=None)}"
        assert got.valid == ref.valid, f"{where}: {got.reason} vs {ref.reason}"
        if not ref.valid:
            continue
        valid += 1
        assert got.gain_db == pytest.approx(ref.gain_db, abs=GAIN_DB), where
        assert got.ugf_hz == pytest.approx(ref.ugf_hz, rel=UGF_REL), where
        assert pm_gap(got.pm_deg, ref.pm_deg) <= PM_DEG, where
    assert valid >= 200  # the comparison covers at least 200 valid circuits


def test_nodal_solver_on_one_gm_stage():
    """The reference itself: A = gm·1 MΩ with a pole at 1/(2π·1 MΩ·50 fF), sign by type."""
    for type_id, sign in ((6, -1), (7, 1)):
        c = Circuit((Node(0, 0), Node(type_id, 2, gm=2e-3), Node(1, 1)), ((0, 1), (1, 2)))
        s = 2j * np.pi * OCB_FREQ_HZ
        expected = sign * 2e-3 * 1e6 / (1 + s * 1e6 * 50e-15)
        np.testing.assert_allclose(solve_testbench(c), expected, rtol=1e-12)


def test_nodal_zero_ohm_modes():
    """R = 0 on a side path from in to out: a short gives H = 1; ngspice's 1 mΩ does not."""
    c = Circuit(
        (Node(0, 0), Node(6, 2, gm=1e-2), Node(2, 7, r=0.0), Node(1, 1)),
        ((0, 1), (0, 2), (1, 3), (2, 3)),
    ).validate()
    np.testing.assert_array_equal(solve_testbench(c), 1.0)
    h = solve_testbench(c, zero_ohm=1e-3)  # KCL at out: (V − 1)/1 mΩ + V/1 MΩ + 10 mS·1 V = 0 at DC
    np.testing.assert_allclose(h[0], (1 - 1e-3 * 1e-2) / (1 + 1e-3 * 1e-6), rtol=1e-9)


@pytest.mark.ngspice
def test_zero_ohm_is_an_ideal_short_in_ngspice():
    """R = 0 is written as a 0 V source: ngspice then agrees with the nodal short exactly."""
    c = Circuit(
        (Node(0, 0), Node(6, 2, gm=1e-2), Node(2, 7, r=0.0), Node(1, 1)),
        ((0, 1), (0, 2), (1, 3), (2, 3)),
    ).validate()
    deck = write_spice(c)
    assert "VR2 in out 0" in deck and parse_spice(deck) == c
    (result,) = simulate([SimJob(deck, keep_sweep=True)])
    np.testing.assert_allclose(result.h, 1.0, atol=1e-9)
