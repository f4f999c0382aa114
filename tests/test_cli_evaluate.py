"""``cktgen-eda evaluate --task cond-gen|recon|uncond``, ``train --model``, and the registry."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from cktgen_eda.cli import cli
from cktgen_eda.data.dataset import split_datasets
from cktgen_eda.data.store import load_benchmark
from cktgen_eda.errors import CktGenError
from cktgen_eda.model.evaluator import Evaluator
from cktgen_eda.model.registry import KINDS, build_model, make_config
from cktgen_eda.training.checkpoint import load_model, save_checkpoint


@pytest.fixture(scope="module")
def ocb101_tiny(tmp_path_factory):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    _, _, cleaned = split_datasets(load_benchmark("ocb101"), drop_invalid=True)
    folder = tmp_path_factory.mktemp("tiny")
    model = build_model("cktgen", make_config("cktgen", "tiny"), cleaned.scheme).eval()
    ev = Evaluator(make_config("evaluator", "tiny"), cleaned.scheme).eval()
    return (
        save_checkpoint(folder / "m.pt", model, {"epoch": 1}),
        save_checkpoint(folder / "ev.pt", ev, {}),
        cleaned.scheme,
    )


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_cond_gen_json(ocb101_tiny):
    model, ev, _ = ocb101_tiny
    r = run(
        "evaluate",
        "--task",
        "cond-gen",
        "--model",
        model,
        "--evaluator",
        ev,
        "--rounds",
        "1",
        "--no-verify",
        "--json",
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["clusters"] == 208 and out["generated"] == 208 and out["validity"] == 1.0
    assert 0 <= out["top1"] <= out["top3"] <= 1 and "verified_spec_acc" not in out
    assert "stable_share" not in out


def test_cond_gen_verified_stability_beside_spec_acc(ocb101_tiny):
    model, ev, _ = ocb101_tiny
    args = ["evaluate", "--task", "cond-gen", "--model", model, "--evaluator", ev]
    r = run(*args, "--rounds", "1", "--workers", "2", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    keys = list(out)
    beside = [
        "spec_acc",
        "verified_spec_acc",
        "verified_working_spec_acc",
        "stable_share",
        "cl_stable_share",
        "working_share",
    ]
    assert keys[keys.index("spec_acc") :][: len(beside)] == beside
    for k in beside[1:]:
        assert 0.0 <= out[k] <= 1.0, k
    assert out["working_share"] <= min(out["stable_share"], out["cl_stable_share"])
    assert out["verified_working_spec_acc"] <= out["verified_spec_acc"]
    assert out["verified_working_spec_acc"] <= out["working_share"]


def test_recon_and_uncond_tables(ocb101_tiny):
    model, _, _ = ocb101_tiny
    r = run("evaluate", "--task", "recon", "--model", model)
    assert r.exit_code == 0, r.output
    assert "recon_acc" in r.output and "933" in r.output
    r = run("evaluate", "--task", "uncond", "--model", model, "--samples", "5", "--json")
    out = json.loads(r.stdout)
    assert out["samples"] == 50 and 0 <= out["novelty"] <= 1


def test_evaluate_errors_are_one_line(ocb101_tiny, tmp_path):
    model, _, _ = ocb101_tiny
    r = run(
        "evaluate",
        "--task",
        "cond-gen",
        "--model",
        model,
        "--evaluator",
        tmp_path / "nope.pt",
        "--rounds",
        "1",
    )
    assert r.exit_code == 1 and "nope.pt" in r.output and "Traceback" not in r.output
    r = run("evaluate", "--task", "recon", "--model", tmp_path / "none.pt")
    assert r.exit_code == 1 and "none.pt" in r.output


def test_train_option_errors(tmp_path):
    r = run("train", "--model", "ldt", "--out-dir", tmp_path / "x")
    assert r.exit_code == 1 and "--init" in r.output
    r = run("train", "--set", "w_kl", "--out-dir", tmp_path / "y")
    assert r.exit_code == 2 and "FIELD=VALUE" in r.output
    r = run("train", "--set", "no_such=1", "--epochs", "1", "--out-dir", tmp_path / "z")
    assert r.exit_code == 1 and "no_such" in r.output


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "ldt"])
def test_every_kind_round_trips_through_a_checkpoint(kind, ocb101_tiny, tmp_path):
    _, _, scheme = ocb101_tiny
    torch.manual_seed(1)
    model = build_model(kind, make_config(kind, "tiny"), scheme).eval()
    path = save_checkpoint(tmp_path / f"{kind}.pt", model, {"epoch": 1})
    again = load_model(path)
    assert again.kind == kind and again.config == model.config
    classes = torch.tensor([[1, 3, 2], [2, 10, 1]])
    a = model.generate(classes, torch.Generator().manual_seed(5))
    b = again.generate(classes, torch.Generator().manual_seed(5))
    assert a == b


def test_registry_errors():
    with pytest.raises(CktGenError, match="unknown model kind 'gan'"):
        make_config("gan")
    with pytest.raises(CktGenError, match="no field 'w_foo'"):
        make_config("cktgen", w_foo=1)
    with pytest.raises(CktGenError, match="unknown preset 'huge'"):
        make_config("pace", "huge")
