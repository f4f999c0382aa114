"""Surrogate evaluator: shapes, loss, overfitting, checkpoints, scoring circuits, training."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cktgen_eda.cli import cli
from cktgen_eda.data.dataset import CircuitDataset, clean, collate
from cktgen_eda.data.store import Benchmark, load_benchmark, write_benchmark
from cktgen_eda.errors import CktGenError
from cktgen_eda.model.evaluator import Evaluator
from cktgen_eda.model.registry import make_config
from cktgen_eda.training.checkpoint import evaluator_path, load_evaluator, save_checkpoint
from cktgen_eda.training.train import TrainConfig, train
from cktgen_eda.training.validation import evaluate_evaluator

N = 40


@pytest.fixture(scope="module")
def setup():
    torch.set_num_threads(1)
    bench = load_benchmark("ocb101", check=False)
    cleaned = clean(bench, drop_invalid=True)
    ds = CircuitDataset(bench, cleaned.train_rows[:N], cleaned.scheme)
    return bench, cleaned.scheme, ds


def tiny(scheme) -> Evaluator:
    torch.manual_seed(0)
    return Evaluator(make_config("evaluator", "tiny"), scheme)


def test_shapes(setup):
    _, scheme, ds = setup
    ev, b = tiny(scheme), ds.all()
    latent = ev.config.latent
    assert ev.embed_circuits(b).shape == (N, latent)
    assert ev.embed_specs(torch.stack([b.gain, b.bw, b.pm], -1)).shape == (N, latent)
    pred = ev.predict(b)
    for k in ("gain", "bw", "pm"):
        assert pred[k].shape == (N,) and pred[k].dtype == torch.long
    assert pred["bw_logits"].shape == (N, scheme.n_bw)
    assert pred["fom"].shape == (N,) and pred["embedding"].shape == (N, latent)


def test_padding_slots_do_not_matter(setup):
    _, scheme, ds = setup
    ev, b = tiny(scheme).eval(), ds.all()
    # Changing a padding slot's type index to a real type must not change the embedding.
    short = int(torch.argmin(b.n_nodes))
    assert b.n_nodes[short] < 8
    types = b.types.clone()
    types[short, -1] = 5
    z0, z1 = ev.embed_circuits(b), ev.embed_circuits(b._replace(types=types))
    assert torch.allclose(z0, z1)


def test_loss_backward(setup):
    _, scheme, ds = setup
    ev = tiny(scheme)
    loss, terms = ev.loss(ds.all())
    assert torch.isfinite(loss)
    assert set(terms) == {"loss", "align", "nce", "fom", "gain", "bw", "pm"}
    loss.backward()
    assert ev.eps.grad is not None
    assert all(p.grad is not None for n, p in ev.named_parameters() if "emb" not in n)


def test_loss_decreases_on_a_fixed_batch(setup):
    _, scheme, ds = setup
    ev, b = tiny(scheme), ds.all()
    opt = torch.optim.AdamW(ev.parameters(), lr=3e-3)
    first = None
    for _ in range(30):
        loss, terms = ev.loss(b)
        first = first if first is not None else terms["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(ev.loss(b)[0]) < 0.7 * first


def test_save_load_round_trip(setup, tmp_path):
    _, scheme, ds = setup
    ev, b = tiny(scheme).eval(), ds.all()
    path = save_checkpoint(tmp_path / "ev.pt", ev, {"note": np.float32(1.5)})
    state = torch.load(path, weights_only=True)  # plain tensors and JSON-able values
    assert state["format"] == "cktgen-eda/evaluator"
    back = load_evaluator(path)
    assert not back.training and back.info == {"note": 1.5}
    assert back.config == ev.config and back.scheme == scheme
    p0, p1 = ev.predict(b), back.predict(b)
    assert all(torch.equal(p0[k], p1[k]) for k in p0)


def test_missing_and_bad_files(tmp_path):
    with pytest.raises(CktGenError, match="no such evaluator file"):
        load_evaluator(tmp_path / "missing.pt")
    with pytest.raises(CktGenError, match="no evaluator named 'nope'"):
        evaluator_path("nope")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CktGenError, match="not a readable evaluator"):
        load_evaluator(junk)
    other = tmp_path / "other.pt"
    torch.save({"format": "cktgen-eda/checkpoint"}, other)
    with pytest.raises(CktGenError, match="not a cktgen-eda evaluator"):
        load_evaluator(other)


def test_score_circuits_skips_none(setup):
    bench, scheme, ds = setup
    ev = tiny(scheme).train()
    rows = ds.rows[:5].tolist()
    circuits = [bench.circuit(rows[0]), None, *(bench.circuit(r) for r in rows[1:]), None]
    out = ev.score_circuits(circuits, chunk=2)
    assert ev.training  # mode restored
    assert out["mask"].tolist() == [True, False, True, True, True, True, False]
    assert out["embedding"].shape == (7, ev.config.latent)
    assert np.isnan(out["fom"][[1, 6]]).all() and (out["gain"][[1, 6]] == -1).all()
    ev.eval()
    ref = ev.predict(collate(ds.__getitems__(range(5))))
    keep = out["mask"]
    assert np.allclose(out["embedding"][keep], ref["embedding"].numpy(), atol=1e-5)
    assert (out["bw"][keep] == ref["bw"].numpy()).all()
    assert np.allclose(out["fom"][keep], ref["fom"].numpy(), atol=1e-4)
    assert ev.score_circuits([None])["mask"].tolist() == [False]


def test_train_on_a_small_benchmark(setup, tmp_path):
    bench, _, ds = setup
    rows = ds.rows.tolist()
    circuits = [bench.circuit(r) for r in rows]
    labels = {k: bench[k][rows] for k in ("valid", "gain_db", "ugf_hz", "pm_deg")}
    # The first 12 circuits again as the test split, so every test class is in the domain.
    test = list(range(12))
    small = Benchmark.from_circuits(
        circuits + [circuits[i] for i in test],
        {k: np.concatenate([v, v[test]]) for k, v in labels.items()},
        n_train=len(circuits),
        manifest={"name": "small"},
    )
    data = write_benchmark(small, tmp_path / "small.npz")
    cfg = TrainConfig.for_model(
        "evaluator", dataset=str(data), preset="tiny", epochs=2, batch_size=16, threads=1
    )
    assert (cfg.lr, cfg.weight_decay) == (1e-4, 0.0)  # the evaluator's run defaults
    out = train(cfg, tmp_path / "run", progress=False)
    assert out == tmp_path / "run" / "last.pt"
    ev = load_evaluator(out)
    report = ev.info["metrics"]
    assert report["epoch"] == 2 and report["n"] == 12
    assert 0 <= report["joint_acc"] <= report["gain_acc"] <= 1
    assert report == pytest.approx(
        {**evaluate_evaluator(ev, CircuitDataset(small, range(40, 52), ev.scheme)), **report}
    )
    lines = (tmp_path / "run" / "log.jsonl").read_text().splitlines()
    assert [json.loads(x).get("epoch") for x in lines] == [1, 2]
    # the same run from the command line, resumed for one more epoch
    args = ["--dataset", data, "--preset", "tiny", "--epochs", 3, "--out-dir", tmp_path / "run"]
    r = CliRunner().invoke(cli, ["train", "--model", "evaluator", *map(str, args), "--resume"])
    assert r.exit_code == 0, r.output
    assert load_evaluator(out).info["epoch"] == 3
