"""The exact small-signal engine agrees with ngspice: sweeps, measurements, verdicts."""

from __future__ import annotations

import json
import random
import sys
from dataclasses import fields, replace

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import EXAMPLES

from cktgen_eda.circuit import Node
from cktgen_eda.cli import cli
from cktgen_eda.data.generator import generate
from cktgen_eda.data.recipes import get_recipe
from cktgen_eda.errors import CktGenError
from cktgen_eda.netlist import fastac
from cktgen_eda.netlist.measure import loop_margin, measure_opamp
from cktgen_eda.netlist.mna import pencil_from_testbench
from cktgen_eda.netlist.ngspice import _label, verify
from cktgen_eda.netlist.stability import analyse, analyse_many
from cktgen_eda.netlist.testbench import build_testbench
from cktgen_eda.plugins import simulators
from cktgen_eda.spec import parse_spec

DECKS = {
    "e_macromodel.cir": "* E stage + RC pole\nV1 in gnd DC 0 AC 1\nE1 a 0 0 in 1e5\n"
    "R1 a out 1k\nC1 out 0 1n\n.end\n",
    "lc.cir": "* RLC low-pass\nV1 in 0 AC 1\nR1 in a 50\nL1 a out 1u\nC1 out 0 1n\n"
    "R2 out 0 10k\n.end\n",
    "sub.cir": "* two stages from one subcircuit\n.subckt stage i o\nG1 o 0 i 0 1m\n"
    "R1 o 0 1Meg\nC1 o 0 50f\n.ends\nV1 in 0 AC 1\nX1 in m stage\nX2 m out stage\n"
    "CC in out 10f\n.end\n",
}


def _circuits(recipe: str, n: int, seed: int) -> list:
    return [c for _, c in generate(random.Random(seed), n, 1, get_recipe(recipe).settings)]


@pytest.mark.ngspice
@pytest.mark.parametrize("recipe", ["ocb101", "ocb301"])
def test_engine_matches_ngspice_on_random_circuits(recipe):
    circuits = _circuits(recipe, 150, 11)
    spec = parse_spec("gain>=40dB,pm>=30deg")
    ng = verify(circuits, spec=spec, keep_sweep=True)
    fa = fastac.verify(circuits, spec=spec, keep_sweep=True)
    for a, b in zip(ng, fa):
        assert np.allclose(a.freq_hz, b.freq_hz, rtol=1e-12, atol=0)
        rel = np.abs(b.h - a.h) / np.abs(a.h)
        assert rel.max() < 1e-6  # magnitude and phase together
        ma, mb = a.measurement, b.measurement
        assert (ma.valid, ma.stable, ma.cl_stable, ma.meets_spec) == (
            mb.valid,
            mb.stable,
            mb.cl_stable,
            mb.meets_spec,
        )
        if ma.valid:
            assert mb.gain_db == pytest.approx(ma.gain_db, abs=1e-4)
            assert mb.ugf_hz == pytest.approx(ma.ugf_hz, rel=1e-6)
            assert mb.pm_deg == pytest.approx(ma.pm_deg, abs=1e-4)
            assert mb.spec_class == ma.spec_class and mb.simulator == "fast"


@pytest.mark.ngspice
def test_engine_reads_plain_decks_like_ngspice(tmp_path):
    paths = []
    for name, text in DECKS.items():
        (tmp_path / name).write_text(text)
        paths.append(tmp_path / name)
    ng, fa = verify(paths, keep_sweep=True), fastac.verify(paths, keep_sweep=True)
    for a, b in zip(ng, fa):
        assert a.error is None and b.error is None
        assert (np.abs(b.h - a.h) / np.abs(a.h)).max() < 1e-6


def test_a_deck_without_a_linear_model_is_invalid_with_the_reason(tmp_path):
    deck = tmp_path / "p.cir"
    deck.write_text(
        "* parameters\n.param g=1m\nV1 in 0 AC 1\nG1 out 0 in 0 {g}\nR1 out 0 1k\n.end\n"
    )
    (r,) = fastac.verify([deck])
    assert not r.measurement.valid and "linear model" in r.error and ".param" in r.error


@pytest.mark.ngspice
def test_verify_engine_option_and_registry():
    assert {"ngspice", "fast"} <= set(simulators())
    files = [str(p) for p in sorted(EXAMPLES.glob("*.json"))]
    runner = CliRunner()
    fast = runner.invoke(cli, ["verify", *files, "--engine", "fast", "--json"])
    ng = runner.invoke(cli, ["verify", *files, "--json"])
    assert fast.exit_code == 0 and ng.exit_code == 0, fast.output + ng.output
    results = [json.loads(r.stdout)["results"] for r in (ng, fast)]
    for a, b in ((x["measurement"], y["measurement"]) for x, y in zip(*results)):
        assert b["simulator"] == "fast" and a["stable"] == b["stable"]
        assert b["ugf_hz"] == pytest.approx(a["ugf_hz"], rel=1e-6)
    bad = runner.invoke(cli, ["verify", *files, "--engine", "nope"])
    assert bad.exit_code == 2 and "unknown engine 'nope'" in bad.output


# the fields the sweep and the verdicts decide exactly; poles and settling come from other
# LAPACK routines in ``analyse`` (QZ) and are compared with a tolerance
_EXACT = tuple(
    f.name for f in fields(fastac.Measurement) if f.name not in ("poles", "cl_poles", "settling_s")
)


@pytest.mark.parametrize("recipe", ["ocb101", "ocb301"])
def test_batched_path_measures_like_the_per_circuit_path(recipe):
    circuits = _circuits(recipe, 100, 5)
    spec = parse_spec("gain>=40dB,pm>=30deg")
    results = fastac.verify(circuits, spec=spec, keep_sweep=True, workers=1)
    for i, (c, r) in enumerate(zip(circuits, results)):
        p = pencil_from_testbench(build_testbench(c))
        st = analyse(p)
        m = measure_opamp(fastac.OCB_FREQ_HZ, r.h, fastac.NAME).with_file(_label(c, i))
        m = m._with(pm_loop_deg=loop_margin(r.h, st.sign)).with_stability(st).with_spec(spec)
        b = r.measurement
        assert [getattr(b, f) for f in _EXACT] == [getattr(m, f) for f in _EXACT]
        for got, want, every in (
            (b.poles, m.poles, st.poles),
            (b.cl_poles, m.cl_poles, st.cl_poles),
        ):
            assert len(got) == len(want)
            scale = max(map(abs, every), default=0.0)
            for x in got:  # the same poles, within QZ's agreement with dgeev (ε·max|p|)
                assert min(abs(x - y) for y in want) <= 1e-6 * abs(x) + 1e-12 * scale
        assert (b.settling_s is None) == (m.settling_s is None)
        if b.settling_s is not None:
            assert b.settling_s == pytest.approx(m.settling_s, rel=0.02)
        # the batch is the single-circuit computation: the same poles and settling time
        one = analyse_many([p])[0]
        assert (b.poles, b.cl_poles) == (tuple(one.dominant()), tuple(one.dominant(closed=True)))
        assert b.settling_s == one.settling_s
        # and its sweep the single-circuit sweep, within 1e-9 of direct solves
        assert np.array_equal(r.h, fastac.sweep([p])[0])
        exact = p.transfer(2j * np.pi * fastac.OCB_FREQ_HZ)
        assert np.allclose(r.h, exact, rtol=1e-8, atol=0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux")
def test_two_workers_give_the_results_of_one(monkeypatch):
    circuits = _circuits("ocb101", 120, 7) + _circuits("ocb301", 120, 8)
    monkeypatch.setattr(fastac, "_CHUNK", 32)  # eight chunks: both processes get some
    assert fastac._processes(2, len(circuits)) == 2
    one = fastac.verify(circuits, keep_sweep=True, workers=1)
    two = fastac.verify(circuits, keep_sweep=True, workers=2)
    assert [r.measurement for r in two] == [r.measurement for r in one]
    assert all(np.array_equal(a.h, b.h) for a, b in zip(one, two))
    lean = fastac.verify(circuits, workers=2)  # without the sweeps: the same measurements
    assert [r.measurement for r in lean] == [r.measurement for r in one]
    assert all(r.h is None and r.freq_hz is None for r in lean)


def test_unusual_circuits_take_the_per_circuit_path():
    good = _circuits("ocb101", 6, 3)
    zero_r = next(c for c in _circuits("ocb101", 400, 4) if any(nd.r is not None for nd in c.nodes))
    k = next(i for i, nd in enumerate(zero_r.nodes) if nd.r is not None)
    zero_r = replace(
        zero_r, nodes=zero_r.nodes[:k] + (replace(zero_r.nodes[k], r=0.0),) + zero_r.nodes[k + 1 :]
    )
    broken = replace(good[0], edges=good[0].edges[:-1])  # the output unreachable
    negative = replace(
        good[1], nodes=(good[1].nodes[0], replace(good[1].nodes[1], gm=-1e-3)) + good[1].nodes[2:]
    )
    odd = replace(good[2], nodes=(Node(0, 0),) + good[2].nodes[1:-1] + (Node(1, True),))
    items = [good[3], zero_r, broken, negative, odd, good[4]]
    results = fastac.verify(items, keep_sweep=True, workers=1)
    for i, (item, r) in enumerate(zip(items, results)):
        try:
            p = pencil_from_testbench(build_testbench(item))
        except CktGenError as exc:  # the per-circuit path's own error (as fastac catches)
            assert r.error == f"fast engine: {exc}" and not r.measurement.valid
            continue
        want = measure_opamp(fastac.OCB_FREQ_HZ, fastac.sweep([p])[0], fastac.NAME)
        assert r.measurement.gain_db == want.gain_db and r.measurement.file == _label(item, i)
    assert results[1].error is None  # a 0 Ω resistor: a branch current, via the deck path
    assert all(results[i].error is not None for i in (2, 3, 4))
