"""Spec → classes → candidates (→ ngspice), the generate/models/train commands."""

from __future__ import annotations

import json
import math

import pytest
import torch
from click.testing import CliRunner
from helpers import small_bench

from cktgen_eda.cli import cli
from cktgen_eda.data.store import write_benchmark
from cktgen_eda.errors import SpecError
from cktgen_eda.generation import containment, feasible_classes, generate, nearest_feasible
from cktgen_eda.report import generation_table
from cktgen_eda.spec import parse_spec

KEYS = [(1, 0, 1), (2, 3, 1), (2, 3, 2), (3, 10, 0)]


def test_feasible_classes_rank_contained_first():
    spec = parse_spec("gain>=80.5dB,ugf>=2.5GHz")
    classes = feasible_classes(spec, KEYS)
    # class (1,0,1) is 80.5 dB and below / < 1 GHz: cannot meet; (3,10,0) lies wholly inside
    assert classes[0] == (3, 10, 0) and set(classes) == {(3, 10, 0), (2, 3, 1), (2, 3, 2)}
    assert containment(spec, (3, 10, 0)) == 1.0 and 0 < containment(spec, (2, 3, 1)) < 1


def test_nearest_feasible_relaxes_the_violated_bound():
    near = nearest_feasible(parse_spec("gain>=300dB,pm>=0deg"), KEYS)
    # the top gain class's lower edge, 180.469 dB, at 3 significant digits
    assert near.gain_db.lo == 180 and near.pm_deg.lo == 0
    assert feasible_classes(near, KEYS)


def test_nearest_feasible_reads_in_round_numbers_and_stays_feasible():
    # the top UGF class starts at 9.99999 GHz: suggested as 10 GHz, which still overlaps it
    near = nearest_feasible(parse_spec("ugf>=40GHz,gain>=0dB"), KEYS)
    assert str(near) == "gain>=0dB,ugf>=10GHz"
    assert feasible_classes(parse_spec(str(near)), KEYS)
    near = nearest_feasible(parse_spec("gain<=-300dB"), KEYS)  # an upper bound moves up
    assert str(near) == "gain<=80.5dB" and feasible_classes(near, KEYS)


def test_rounding_a_bound_outward_relaxes_it():
    from cktgen_eda.spec_classes import _round_sig

    assert _round_sig(29.99999e9, "ugf_hz", round) == 30e9
    assert _round_sig(29.99999e9, "ugf_hz", math.floor) == 29.9e9
    assert _round_sig(180.469, "gain_db", math.ceil) == 181
    assert _round_sig(0.0009, "pm_deg", round) == 0  # never finer than 0.1°
    assert _round_sig(-179.9991, "pm_deg", math.floor) == -180


def test_generate_reports_every_candidate(tiny_model):
    model, _ = tiny_model
    res = generate("gain>=0dB", n=12, model=model, seed=3)
    assert len(res.candidates) == 12 and res.classes
    for c in res.candidates:
        assert (c.circuit is not None) != (c.error is not None)
        assert c.spec_class in res.classes
    again = generate("gain>=0dB", n=12, model=model, seed=3)
    assert [c.circuit for c in again.candidates] == [c.circuit for c in res.candidates]


def test_infeasible_spec_names_the_nearest_feasible_one(tiny_model):
    model, _ = tiny_model
    with pytest.raises(SpecError, match="nearest feasible spec: gain>="):
        generate("gain>=400dB", model=model)


@pytest.mark.ngspice
def test_generate_cli_verify_json_and_files(tiny_model, tmp_path):
    _, path = tiny_model
    out = tmp_path / "cands"
    r = CliRunner().invoke(
        cli,
        [
            "generate",
            "--spec",
            "gain>=0dB",
            "-n",
            "6",
            "--model",
            str(path),
            "--verify",
            "--json",
            "--out-dir",
            str(out),
            "--format",
            "spice",
        ],
    )
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert len(data["results"]) == 6 and data["meets_spec"] is not None
    ranked = [c["measurement"] for c in data["results"] if c["measurement"]]
    written = sorted(c["file"] for c in data["results"] if c["file"])
    assert written == sorted(str(p) for p in out.glob("candidate_*.cir"))
    assert all(m["simulator"].startswith("ngspice") for m in ranked)
    assert len(list(out.glob("candidate_*.cir"))) == data["valid"]
    r = CliRunner().invoke(
        cli,
        [
            "generate",
            "--spec",
            "gain>=0dB",
            "-n",
            "6",
            "--model",
            str(path),
            "--out-dir",
            str(out),
            "--format",
            "spice",
        ],
    )
    assert r.exit_code == 1 and "exists" in r.output


def test_generate_cli_errors(tiny_model):
    _, path = tiny_model
    r = CliRunner().invoke(cli, ["generate", "--spec", "gain>=400dB", "--model", str(path)])
    assert r.exit_code == 1 and "nearest feasible spec" in r.output
    r = CliRunner().invoke(cli, ["generate", "--model", str(path)])
    assert r.exit_code == 2
    r = CliRunner().invoke(cli, ["generate", "--spec", "gain>=1dB", "--model", "nope"])
    assert r.exit_code == 1 and "no model named 'nope'" in r.output


@pytest.mark.ngspice
def test_train_cli_runs_and_resumes(tmp_path):
    bench = write_benchmark(small_bench(), tmp_path / "small.npz")
    out = tmp_path / "run"
    args = [
        "train",
        "--dataset",
        str(bench),
        "--preset",
        "tiny",
        "--epochs",
        "1",
        "--eval-every",
        "1",
        "--batch-size",
        "16",
        "--out-dir",
        str(out),
    ]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert rows[-1]["epoch"] == 1 and 0 <= rows[-1]["verified_class_acc"] <= 1
    assert (out / "best.pt").exists() and (out / "last.pt").exists()
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 1 and "--resume" in r.output
    r = CliRunner().invoke(cli, [*args[:6], "2", *args[7:], "--resume"])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "log.jsonl").read_text().splitlines()[-1])["epoch"] == 2


def test_a_seeded_run_from_scratch_is_reproducible(tmp_path):
    """The seed fixes the initial weights too, whatever ran before in the process."""
    from cktgen_eda.training.train import TrainConfig, train

    bench = write_benchmark(small_bench(), tmp_path / "small.npz")
    weights = []
    for k in range(2):
        torch.manual_seed(100 + k)  # a different global state before each run
        cfg = TrainConfig(dataset=str(bench), preset="tiny", epochs=1, batch_size=16,
                          eval_every=0, seed=3)  # fmt: skip
        path = train(cfg, tmp_path / f"run{k}", progress=False)
        weights.append(torch.load(path, weights_only=True)["model"])
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_expected_yield_weights_class_probabilities_by_pass_share():
    from cktgen_eda.generation import expected_yield

    yields = {(2, 1, 0): 0.5, (2, 1, 3): 0.1, (1, 0, 0): 0.0}
    one_hot = [torch.eye(4)[[2, 1]], torch.eye(3)[[1, 0]], torch.eye(4)[[3, 0]]]
    assert expected_yield(one_hot, yields) == pytest.approx([0.1, 0.0])
    # an even split between pm classes 0 and 3 averages their shares
    split = [torch.eye(4)[[2]], torch.eye(3)[[1]], torch.tensor([[0.5, 0.0, 0.0, 0.5]])]
    assert expected_yield(split, yields) == pytest.approx([0.3])


def test_class_yields_come_from_the_shipped_training_labels():
    from types import SimpleNamespace

    from cktgen_eda.generation import class_yields
    from cktgen_eda.training.checkpoint import load_model

    spec = parse_spec("gain>=60dB,ugf>=500MHz,pm>=60deg")
    shipped = load_model("ocb101")
    y = class_yields(spec, shipped)
    assert y and all(0.0 <= v <= 1.0 for v in y.values())
    # the training set is mostly oscillators: far fewer pass as working amplifiers
    raw = class_yields(parse_spec(spec.to_text() + ",stable=any"), shipped)
    assert sum(y.values()) < 0.5 * sum(raw.values())
    unshipped = SimpleNamespace(info={"dataset": {"name": "not-shipped"}})
    assert class_yields(spec, unshipped) is None


@pytest.mark.ngspice
def test_generate_refine_sizes_and_keeps_the_best(tiny_model):
    model, _ = tiny_model
    res = generate("gain>=20dB,ugf>=10MHz", n=4, model=model, seed=2, refine=True, verify=True)
    info = res.info["refine"]
    assert len(res.candidates) == 4 and info["kept"] == 4
    assert info["sized"] <= 8 and info["met_after"] >= info["met_before"]
    sized = [c for c in res.candidates if c.valid]
    assert all(c.circuit.meta["sized"]["objective"] == "power" for c in sized)
    # what sizing called a pass, ngspice confirms
    for c in sized:
        if c.circuit.meta["sized"]["met"]:
            assert c.measurement.meets_spec
    assert "sized topologies met the spec before sizing" in generation_table(res)
