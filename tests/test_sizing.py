"""Sizing: the affine pencil, the differentiable metrics, size() and the size command."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from helpers import EXAMPLES

from cktgen_eda import sizing
from cktgen_eda.circuit import load_circuit
from cktgen_eda.cli import cli
from cktgen_eda.data.generator import generate
from cktgen_eda.data.recipes import get_recipe
from cktgen_eda.errors import CktGenError, DAGError, NetlistError
from cktgen_eda.netlist import fastac, parametric
from cktgen_eda.netlist.measure import loop_margin, measure_opamp
from cktgen_eda.netlist.mna import pencil_from_deck, pencil_from_testbench
from cktgen_eda.netlist.ngspice import verify
from cktgen_eda.netlist.stability import analyse
from cktgen_eda.netlist.testbench import build_testbench
from cktgen_eda.sizing import gradient
from cktgen_eda.spec import parse_spec

DECK = """amp with a comment
V1 in 0 dc 0 ac 1
R1 in a 10k
G1 0 b a 0 1m ; the stage
R2 b 0 100k
C2 b 0 1p
E1 out 0 b 0 1
.subckt keep i o
R9 i o 5k
.ends
.ac dec 10 1 1G
.end
"""


def _in_range(c) -> bool:
    for nd in c.nodes:
        for k, v in nd.values().items():
            lo, hi = parametric.VALUE_RANGES[k]
            if not lo <= v <= hi:
                return False
    return True


def _random_circuits(n: int, seed: int) -> list:
    out = []
    for _, c in generate(random.Random(seed), 4 * n, 1, get_recipe("ocb101").settings):
        try:
            build_testbench(c)
        except (DAGError, NetlistError):  # invalid topologies are not what this tests
            continue
        if _in_range(c):
            out.append(c)
    return out[:n]


def test_affine_pencil_reproduces_the_testbench_pencil():
    for c in _random_circuits(40, 3):
        pp = parametric.from_circuit(c)
        p = pp.pencil(np.array([v.value for v in pp.variables]))
        q = pencil_from_testbench(build_testbench(c))
        for a, b in ((p.g, q.g), (p.c, q.c), (p.g_in, q.g_in), (p.c_in, q.c_in)):
            assert np.allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(b).max())
        kinds = sorted(v.kind for v in pp.variables)
        assert kinds == sorted(k for nd in c.nodes for k in nd.values())


def test_affine_pencil_follows_new_values():
    c = load_circuit(EXAMPLES / "two_stage_miller.json")
    pp = parametric.from_circuit(c)
    x = np.array([v.value for v in pp.variables]) * np.linspace(0.5, 2.0, len(pp.variables))
    sized = parametric.sized_circuit(c, pp, x)
    p = pp.pencil(np.array([parametric.rounded(v) for v in x]))
    q = pencil_from_testbench(build_testbench(sized))
    assert np.allclose(p.g, q.g, rtol=1e-12) and np.allclose(p.c, q.c, rtol=1e-12)


def test_deck_variables_and_rewrite():
    pp = parametric.from_deck(DECK)
    assert [v.name for v in pp.variables] == ["R1", "G1", "R2", "C2"]  # not the subckt's R9
    assert pp.variables[0].lo == pytest.approx(100.0) and pp.variables[0].hi == pytest.approx(1e6)
    text = parametric.sized_deck(DECK, pp, np.array([2e4, 2e-3, 5e4, 2e-12]))
    assert "R1 in a 2.000e+04\n" in text
    assert "G1 0 b a 0 2.000e-03 ; the stage\n" in text
    assert "R9 i o 5k" in text and text.splitlines()[0] == "amp with a comment"
    p = pencil_from_deck(text)
    q = pp.pencil(np.array([2e4, 2e-3, 5e4, 2e-12]))
    assert np.allclose(p.g, q.g) and np.allclose(p.c, q.c)
    with pytest.raises(NetlistError, match="cannot rewrite"):
        parametric.sized_deck(DECK.replace("R2 b 0 100k", "R2 b 0\n+ 100k"), pp, np.ones(4))


def test_differentiable_metrics_equal_the_measurement_and_its_gradient():
    """gain, UGF and loop PM of the sizing graph are measure.py's numbers, and autograd
    agrees with central differences."""
    circuits = [c for c in _random_circuits(60, 5)]
    pps = [parametric.from_circuit(c) for c in circuits]
    target = sizing.Target.for_spec(parse_spec("ugf>=1Hz"))
    starts = [np.log10([[v.value for v in pp.variables]]) for pp in pps]
    batch = gradient._Batch(pps, starts, [target] * len(pps))
    theta = torch.tensor(np.concatenate(gradient.starts_padded(starts, batch.j)))
    g, c = batch.matrices(theta)
    brackets = gradient._brackets(g, c, batch, fastac.OCB_FREQ_HZ)
    freq = torch.tensor(fastac.OCB_FREQ_HZ)
    captured = {}
    real_objective = gradient._objective

    def spy(objective, theta, batch, gain, ugf, pm, pm_bench, first):
        captured.update(gain=gain, ugf=ugf, pm=pm, first=first)
        return real_objective(objective, theta, batch, gain, ugf, pm, pm_bench, first)

    gradient._objective = spy
    try:
        gradient._terms(g, c, theta, batch, brackets, freq, "margin")
    finally:
        gradient._objective = real_objective
    checked = 0
    for k, pp in enumerate(pps):
        p = pp.pencil(np.array([v.value for v in pp.variables]))
        h = fastac.sweep([p])[0]
        m = measure_opamp(fastac.OCB_FREQ_HZ, h, "fast")
        assert captured["gain"][k].item() == pytest.approx(m.gain_db, abs=1e-6)
        if m.valid and captured["first"][k]:
            st = analyse(p, settling=False)
            assert 10 ** captured["ugf"][k].item() == pytest.approx(m.ugf_hz, rel=1e-6)
            assert captured["pm"][k].item() == pytest.approx(loop_margin(h, st.sign), abs=1e-4)
            checked += 1
    assert checked >= 10

    # gradient of the summed gain against central differences
    th = theta.clone().requires_grad_(True)
    gg, cc = batch.matrices(th)
    gradient._objective = spy
    try:
        gradient._terms(gg, cc, th, batch, brackets, freq, "margin")
    finally:
        gradient._objective = real_objective
    captured["gain"].sum().backward()
    eps = 1e-6
    for j in range(3):
        d = torch.zeros_like(theta)
        d[:, j] = eps
        vals = []
        for sgn in (1, -1):
            g2, c2 = batch.matrices(theta + sgn * d)
            gradient._objective = spy
            try:
                gradient._terms(g2, c2, theta + sgn * d, batch, brackets, freq, "margin")
            finally:
                gradient._objective = real_objective
            vals.append(captured["gain"].detach())
        fd = (vals[0] - vals[1]) / (2 * eps)
        assert torch.allclose(th.grad[:, j], fd, rtol=1e-4, atol=1e-4)


def _pairs(n: int):
    """Working amplifiers of one topology from the shipped ocb101 (a sized, b the box)."""
    from cktgen_eda.data.store import load_benchmark

    bench = load_benchmark("ocb101")
    ok = bench["valid"] & bench["stable"] & bench["cl_stable"] & (bench["gain_db"] > 0)
    by: dict[int, list[int]] = {}
    for r in map(int, ok.nonzero()[0]):
        by.setdefault(int(bench["topology"][r]), []).append(r)
    groups = [g for g in by.values() if len(g) >= 2]
    rng = random.Random(7)
    out = []
    for _ in range(n):
        a, b = rng.sample(rng.choice(groups), 2)
        g, u, p = (float(bench[k][b]) for k in ("gain_db", "ugf_hz", "pm_loop_deg"))
        spec = parse_spec(
            f"gain={g - 20}dB..{g + 20}dB,ugf={u / 2}Hz..{u * 2}Hz,pm={p - 30}deg..{p + 30}deg"
        )
        out.append((bench.circuit(a, with_spec=False), spec))
    return out


@pytest.mark.ngspice
def test_size_puts_amplifiers_into_boxes_and_ngspice_agrees():
    pairs = _pairs(6)
    results = sizing.size([c for c, _ in pairs], [s for _, s in pairs], objective="margin")
    assert sum(r.met for r in results) >= 5
    checked = verify([r.circuit for r in results])
    for r, (_, spec), sim in zip(results, pairs, checked):
        m = sim.measurement.with_spec(spec)
        assert bool(m.meets_spec) == r.met  # the fast verdict is ngspice's
        if r.met:
            assert m.works and m.stable and m.cl_stable
            for v in r.values_after.values():
                assert v == parametric.rounded(v)


def test_size_power_objective_lowers_total_gm():
    pairs = _pairs(4)
    circuits, specs = [c for c, _ in pairs], [s for _, s in pairs]
    power = sizing.size(circuits, specs, objective="power", search=False)
    margin = sizing.size(circuits, specs, objective="margin", search=False)
    both = [(p, m) for p, m in zip(power, margin) if p.met and m.met]
    assert both
    assert sum(p.power_s for p, _ in both) < sum(m.power_s for _, m in both)


def test_infeasible_target_returns_the_closest_point():
    c = load_circuit(EXAMPLES / "two_stage_miller.json")
    [r] = sizing.size([c], parse_spec("gain>=400dB"), search=False, steps=20)
    assert not r.met and r.circuit is not None and r.after.valid
    assert sizing.Target.for_spec(parse_spec("gain>=400dB")).shortfall(r.after) > 0
    assert r.error is None


def test_bad_items_get_an_error_not_an_exception():
    [r] = sizing.size(
        [sizing.Deck("t\nV1 in 0 ac 1\nB1 out 0 v=1\n.end\n", "", "in", "out")],
        parse_spec("gain>=0dB"),
    )
    assert r.error and not r.met and r.method == "none"
    with pytest.raises(CktGenError, match="unknown objective 'speed'"):
        sizing.size([], parse_spec("gain>=0dB"), objective="speed")


def test_class_target_can_drop_stability():
    t = sizing.Target.for_class((2, 1, 1), stable=False)
    assert not t.loop_pm and not t.stable
    assert t.spec.gain_db.lo == pytest.approx(80.469, abs=1e-3)


@pytest.mark.ngspice
def test_size_command_on_circuit_json_and_plain_deck(tmp_path):
    runner = CliRunner()
    out = tmp_path / "sized.json"
    spec = "gain>=40dB,ugf=100MHz..200MHz,pm>=45deg"
    res = runner.invoke(
        cli, ["size", str(EXAMPLES / "two_stage_miller.json"), "--spec", spec, "-o", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert "met after sizing" in res.output and "before" in res.output
    sized = load_circuit(out)
    [m] = [r.measurement for r in verify([sized], spec=parse_spec(spec))]
    assert m.meets_spec

    deck = tmp_path / "amp.cir"
    deck.write_text(DECK.replace(".subckt keep i o\nR9 i o 5k\n.ends\n", ""))
    res = runner.invoke(
        cli,
        [
            "size",
            str(deck),
            "--spec",
            "gain>=30dB,ugf>=20MHz",
            "--json",
            "-o",
            str(tmp_path / "sized.cir"),
        ],
    )
    data = json.loads(res.stdout)
    assert res.exit_code == (0 if data["met"] else 1)
    assert data["met"] and data["after"]["stable"]
    assert (tmp_path / "sized.cir").read_text().startswith("amp with a comment")

    res = runner.invoke(cli, ["size", str(deck), "--spec", "gain>=30dB", "-o", str(out)])
    assert res.exit_code == 1 and "exists" in res.output  # never overwrites without --force
    bad = tmp_path / "bad.txt"
    bad.write_text("x")
    res = runner.invoke(cli, ["size", str(bad), "--spec", "gain>=30dB"])
    assert res.exit_code == 1 and res.output.count("\n") == 1 and "unknown file type" in res.output


def test_cli_objective_choices_are_the_librarys():
    from cktgen_eda.cli.options import OBJECTIVE_CHOICES

    assert OBJECTIVE_CHOICES == sizing.OBJECTIVES
    for name in ("size", "generate", "design"):
        [opt] = [p for p in cli.commands[name].params if p.name == "objective"]
        assert tuple(opt.type.choices) == sizing.OBJECTIVES
