"""The exact small-signal engine agrees with ngspice: sweeps, measurements, verdicts."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import EXAMPLES

from cktgen_eda.cli import cli
from cktgen_eda.data.generator import generate
from cktgen_eda.data.recipes import get_recipe
from cktgen_eda.netlist import fastac
from cktgen_eda.netlist.ngspice import verify
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
    for a, b in zip(json.loads(ng.stdout), json.loads(fast.stdout)):
        assert b["simulator"] == "fast" and a["stable"] == b["stable"]
        assert b["ugf_hz"] == pytest.approx(a["ugf_hz"], rel=1e-6)
    bad = runner.invoke(cli, ["verify", *files, "--engine", "nope"])
    assert bad.exit_code == 2 and "unknown engine 'nope'" in bad.output
