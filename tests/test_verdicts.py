"""A PASS is a working amplifier: no oscillator passes generate, design or verify.

Every PASS is re-checked here by a second, independent pole computation (tests/nodal.py:
own nodal matrices, 40-digit eigenvalues) — open loop and in unity-gain negative feedback.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from nodal import exact_poles

from cktgen_eda import load_circuit
from cktgen_eda.cli import cli
from cktgen_eda.spec import parse_spec

pytestmark = pytest.mark.ngspice

# the README's specs and the one whose old "PASS" designs all oscillated
SPECS = [
    "gain>=80dB,ugf>=1GHz,pm>=45deg",
    "gain>=100dB,ugf>=2GHz,pm>=30deg",
    "gain>=60dB,ugf>=10MHz,pm>=30deg",
    "gain>=60dB,ugf>=500MHz,pm>=60deg",
]


def _assert_working(circuit, measurement) -> None:
    """Independent poles all in the left half plane, both ways; gain above 0 dB."""
    open_loop, closed = exact_poles(circuit)
    assert all(p.real < 0 for p in open_loop), (measurement, open_loop)
    assert all(p.real < 0 for p in closed), (measurement, closed)
    assert measurement.gain_db > 0 and measurement.stable and measurement.cl_stable


@pytest.mark.parametrize("spec", SPECS)
def test_no_unstable_pass_in_generate(spec):
    from cktgen_eda.generation import generate

    res = generate(spec, n=16, verify=True, rerank=2)
    passes = [c for c in res.candidates if c.meets]
    for c in passes:
        _assert_working(c.circuit, c.measurement)
    # ranked: passes, then the other working amplifiers, then the rest
    works = [
        bool(c.meets) * 2 + bool(c.measurement and c.measurement.works) for c in res.candidates
    ]
    assert works == sorted(works, reverse=True)


@pytest.mark.parametrize("spec", SPECS)
def test_no_unstable_design(spec):
    from cktgen_eda.design import design

    res = design(spec, budget=64, batch=16)
    for d in res.designs:
        assert d.measurement.meets_spec
        _assert_working(d.circuit, d.measurement)


def test_design_exits_1_with_a_hint_when_nothing_passes(tiny_model):
    _, path = tiny_model
    args = ["design", "--spec", "gain>=100dB,ugf>=2GHz,pm>=30deg", "--budget", "4"]
    r = CliRunner().invoke(cli, [*args, "--model", str(path)])
    if "no design met" in r.output:
        assert r.exit_code == 1 and "--budget" in r.output
    else:  # the tiny model happened to find one: it must then be a working amplifier
        assert r.exit_code == 0, r.output


def test_examples_stay_stable_and_pass_their_readme_spec(tmp_path):
    from cktgen_eda.netlist.ngspice import verify

    files = sorted((__import__("conftest").EXAMPLES).glob("*.json"))
    spec = parse_spec("gain>=60dB,ugf>=10MHz,pm>=30deg")
    results = verify(files, spec=spec)
    for path, r in zip(files, results):
        assert r.measurement.meets_spec, (path, r.measurement.fails)
        _assert_working(load_circuit(path), r.measurement)
        assert r.measurement.settling_s is not None and 0 < r.measurement.settling_s < 1e-6


def test_verify_cli_reports_stability_and_reasons(tmp_path):
    # the 2-stage amplifier with its Miller capacitor across a NON-inverting stage: both
    # poles in the right half plane, yet the benchmark PM reads like a healthy amplifier
    deck = "\n".join(
        [
            "* miller across a non-inverting stage",
            "V1 in 0 DC 0 AC 1",
            "G1 a 0 in 0 1m",
            "R1 a 0 1Meg",
            "C1 a 0 50f",
            "G2 out 0 a 0 -1m",
            "R2 out 0 1Meg",
            "C2 out 0 50f",
            "CC a out 1p",
            ".end",
        ]
    )
    amp = tmp_path / "amp.cir"
    amp.write_text(deck)
    runner = CliRunner()
    r = runner.invoke(cli, ["verify", str(amp), "--spec", "gain>=40dB", "--json"])
    assert r.exit_code == 0, r.output
    (m,) = [item["measurement"] for item in json.loads(r.stdout)["results"]]
    assert m["valid"] and m["stable"] is False and m["meets_spec"] is False
    assert m["poles"][0][0] > 0 and any(f.startswith("unstable: pole at +") for f in m["fails"])
    raw = runner.invoke(cli, ["verify", str(amp), "--spec", "gain>=40dB,stable=any"])
    assert raw.exit_code == 0 and "PASS" in raw.stdout and "UNSTABLE" in raw.stdout
    table = runner.invoke(cli, ["verify", str(amp), "--spec", "gain>=40dB"]).stdout
    assert "UNSTABLE" in table and "FAIL: unstable: pole at +" in table
