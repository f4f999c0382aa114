"""The design bandit: concentrates on the best arm; budget, seed and infeasible specs."""

from __future__ import annotations

import random

import pytest
import torch
from click.testing import CliRunner

from cktgen_eda.cli import cli
from cktgen_eda.design import Bandit, design, potential_fom
from cktgen_eda.errors import CktGenError, SpecError
from cktgen_eda.spec import parse_spec


@pytest.mark.parametrize("strategy", ["ucb", "thompson"])
def test_bandit_concentrates_on_the_best_arm(strategy):
    rng = random.Random(0)
    means = [0.1, 0.3, 0.8, 0.2, 0.5]
    bandit = Bandit([0.5] * 5, strategy, rng=random.Random(1))
    for _ in range(400):
        arm = bandit.select()
        bandit.update(arm, min(1.0, max(0.0, rng.gauss(means[arm], 0.1))))
    assert bandit.pulls.index(max(bandit.pulls)) == 2
    assert bandit.pulls[2] > 0.6 * 400


def test_bandit_rejects_unknown_strategy():
    with pytest.raises(CktGenError, match="strategy must be one of"):
        Bandit([0.1], "greedy")


def test_potential_fom_is_the_corner_of_class_and_spec():
    spec = parse_spec("gain>=100dB,ugf<=2.5GHz,pm>=30deg")
    # class (2, 2, 1): gain 80.5…180.5 dB, UGF 2…3 GHz, PM 0…90°: best corner is
    # 180.5 dB, 2.5 GHz (spec cap), PM 30° (spec floor)
    fom = potential_fom(spec, (2, 2, 1))
    assert fom == pytest.approx(1.2 * 180.469 / 100 + 25.0 - 1.6 * 30 / 90, abs=1e-3)


@pytest.mark.ngspice
def test_design_honours_budget_and_seed(tiny_model):
    model, _ = tiny_model
    torch.manual_seed(0)
    a = design("gain>=0dB", budget=20, batch=8, model=model, seed=3)
    b = design("gain>=0dB", budget=20, batch=8, model=model, seed=3)
    assert a.samples == 20 and [h[0] for h in a.history] == [8, 16, 20]
    assert sum(a.pulls) == 3
    assert [d.circuit for d in a.designs] == [d.circuit for d in b.designs]
    for d in a.designs:
        assert d.measurement.meets_spec and d.measurement.simulator.startswith("ngspice")
    assert [d.fom for d in a.designs] == sorted((d.fom for d in a.designs), reverse=True)


def test_infeasible_spec_is_a_clear_error(tiny_model):
    model, path = tiny_model
    with pytest.raises(SpecError, match="nearest feasible spec"):
        design("gain>=400dB", model=model)
    r = CliRunner().invoke(cli, ["design", "--spec", "gain>=400dB", "--model", str(path)])
    assert r.exit_code == 1 and "nearest feasible spec" in r.output


@pytest.mark.ngspice
def test_evaluate_auto_design_cli(tiny_model, tmp_path):
    import json

    from helpers import small_bench

    from cktgen_eda.data.store import write_benchmark

    _, path = tiny_model
    bench = write_benchmark(small_bench(), tmp_path / "small.npz")
    args = [
        "evaluate",
        "--task",
        "auto-design",
        "--dataset",
        str(bench),
        "--model",
        str(path),
        "--targets",
        "2",
        "--random",
        "1",
        "--budget",
        "8",
        "--json",
        "--plot",
        str(tmp_path / "ad.png"),
    ]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert [row["kind"] for row in out["rows"]] == ["class", "class", "random"]
    assert out["summary"]["all"]["targets"] == 3 and (tmp_path / "ad.png").exists()
    for row in out["rows"]:
        assert row["met"] == (row["best_fom"] is not None)


def test_auto_design_targets_count_in_total_unless_random_is_given():
    from helpers import small_bench

    from cktgen_eda.evaluation.auto_design import RANDOM_TARGETS, targets

    bench = small_bench()
    kinds = lambda ts: [k for k, _ in ts]  # noqa: E731
    assert kinds(targets(bench, 5)) == ["class"] * 5  # --targets 5: five targets, not 55
    assert kinds(targets(bench, 2, 1)) == ["class", "class", "random"]
    every = targets(bench)  # the paper's protocol: every class + the random grid points
    assert kinds(every).count("random") == RANDOM_TARGETS
    n = kinds(every).count("class")
    filled = targets(bench, n + 3)  # more than the dataset has: random points fill in
    assert len(filled) == n + 3 and kinds(filled).count("random") == 3


@pytest.mark.ngspice
def test_design_objective_power_ranks_by_total_gm_and_ngspice_confirms(tiny_model):
    model, _ = tiny_model
    res = design("gain>=0dB", budget=16, batch=8, model=model, seed=1, objective="power", refine=4)
    assert res.info["objective"] == "power"
    power = [sum(n.gm for n in d.circuit.nodes if n.gm) for d in res.designs]
    assert power == sorted(power)
    for d in res.designs:
        assert d.measurement.meets_spec and d.measurement.simulator.startswith("ngspice")
    with pytest.raises(CktGenError, match="unknown objective 'speed'"):
        design("gain>=0dB", budget=8, model=model, objective="speed")


def test_ck_design_is_the_function_even_after_the_module_is_imported():
    import importlib

    import cktgen_eda as ck
    import cktgen_eda.sizing

    module = importlib.import_module("cktgen_eda.design")  # binds the submodule on ck
    assert ck.design is module.design is design and callable(ck.design)
    assert ck.size is cktgen_eda.sizing.size and {"design", "size"} <= set(ck.__all__)


def test_design_writes_its_designs_in_any_registered_format(tmp_path):
    from click.testing import CliRunner

    from cktgen_eda.cli import cli

    out = tmp_path / "best"
    args = ["design", "--spec", "gain>=60dB", "--budget", "16", "--top", "2", "--refine", "2"]
    r = CliRunner().invoke(cli, [*args, "--engine", "fast", "--out-dir", out, "--format", "svg"])
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in out.iterdir())
    assert names and all(n.endswith((".svg", ".cir")) for n in names)
    assert any(n.endswith(".svg") for n in names)
    assert (out / names[-1]).read_text().lstrip().startswith("<")
