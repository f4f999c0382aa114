"""Data-parallel training under torchrun (training/distributed.py): 2 gloo processes on the CPU.

One fixture runs ``cktgen-eda train`` four times on a 63-circuit benchmark with the ``tiny``
preset, all from the same initial weights (``--init``): one process with batch 24 and two
torchrun processes with batch 12 each, 2 epochs, then ``--resume`` of each to epoch 3. The
3 steps per epoch are 24 + 24 + 15 rows, so the last batch splits 7 / 8 between the ranks and
the shard weighting is exercised too.

What is compared, and why: the ranks draw their own VAE noise, so the reconstruction terms
(and every gradient they feed) differ from one process's by chance, not by float error. The
runs therefore train the noise-free part of CktGen's objective, the four KL terms
(``w_kl=1``; reconstruction and alignment weights 0; the tiny preset has no dropout): a
per-sample mean through the circuit encoder (GNN + transformer) and the spec encoder. For
that objective two ranks with batch B must reproduce one process with batch 2B up to float
rounding (observed: logged losses within 2e-7 relative, weights within 1e-7).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from helpers import small_bench

from cktgen_eda.data.dataset import split_datasets
from cktgen_eda.data.store import write_benchmark
from cktgen_eda.model.registry import build_model, make_config
from cktgen_eda.training.checkpoint import save_checkpoint

pytestmark = pytest.mark.ngspice  # the train command validates with ngspice at its last epoch

B = 12  # rows per rank; the reference takes 2·B
NOISE_FREE = ["w_type=0", "w_pos=0", "w_size=0", "w_edge=0", "w_align=0", "w_kl=1"]
RUN_FILES = {"best.pt", "config.json", "last.pt", "log.jsonl"}


def _train(cwd, out: str, batch: int, epochs: int, ddp: bool, resume: bool = False):
    args = ["--dataset", "bench.npz", "--preset", "tiny", "--init", "init.pt"]
    args += [x for s in NOISE_FREE for x in ("--set", s)]
    args += ["--epochs", str(epochs), "--batch-size", str(batch), "--eval-every", "10"]
    args += ["--out-dir", out, *(["--resume"] if resume else [])]
    launch = ["-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone"]
    cmd = [sys.executable, *(launch if ddp else []), "-m", "cktgen_eda", "train", *args]
    # a lost rank fails the collective after 2 min instead of 30; torchrun ends the others
    env = {**os.environ, "CKTGEN_EDA_DDP_TIMEOUT_S": "120"}
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def _rows(path) -> list[dict]:
    return [json.loads(x) for x in (path / "log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("ddp")
    bench = small_bench(71)  # 63 training circuits, 8 test circuits
    write_benchmark(bench, cwd / "bench.npz")
    torch.manual_seed(0)
    scheme = split_datasets(bench)[2].scheme
    model = build_model("cktgen", make_config("cktgen", "tiny"), scheme)
    save_checkpoint(cwd / "init.pt", model, {"epoch": 0})
    out = {}
    for name, batch, ddp in (("ref", 2 * B, False), ("ddp", B, True)):
        first = _train(cwd, name, batch, 2, ddp)
        out[name] = (cwd / name, _rows(cwd / name), torch.load(cwd / name / "last.pt"))
        resumed = _train(cwd, name, batch, 3, ddp, resume=True)
        out[name + "_stdout"] = first.stdout + resumed.stdout
        out[name + "_stderr"] = first.stderr + resumed.stderr
    out["cwd"] = cwd
    return out


def test_ddp_run_finishes_with_ranks_in_agreement(runs):
    folder, rows, _ = runs["ddp"]
    assert [r["epoch"] for r in rows] == [1, 2]
    # every epoch the library compares a digest of each rank's weights (all-reduced)
    assert all(r["world_size"] == 2 and r["ranks_agree"] is True for r in rows)
    assert json.loads((folder / "config.json").read_text())["world_size"] == 2
    assert "world_size" not in json.loads((runs["ref"][0] / "config.json").read_text())


def test_rank_0_alone_writes(runs):
    cwd = runs["cwd"]
    assert {p.name for p in cwd.iterdir()} == {"bench.npz", "init.pt", "ref", "ddp"}
    assert {p.name for p in (cwd / "ddp").iterdir()} == RUN_FILES  # no temp or rank files
    # one log line per epoch (a second writer would append its own), one result line per run
    assert [r["epoch"] for r in _rows(cwd / "ddp")] == [1, 2, 3]
    assert runs["ddp_stdout"].count("best checkpoint:") == 2
    assert runs["ddp_stderr"].count("training bench.npz") == 2


def test_losses_and_weights_match_one_process_with_the_whole_batch(runs):
    _, ref_rows, ref = runs["ref"]
    _, rows, ddp = runs["ddp"]
    for a, b in zip(ref_rows, rows, strict=True):
        assert a["lr"] == b["lr"]  # same steps per epoch, same schedule
        for key in ("loss", "kl"):  # 3 steps of float32 losses, averaged in float64
            assert b[key] == pytest.approx(a[key], rel=1e-5)
    for name, w in ref["model"].items():
        v = ddp["model"][name]
        if name.endswith("self_attn.in_proj_bias"):
            # The key bias [d:2d] cannot change the softmax: its true gradient is 0, and Adam
            # scales the float noise there up to ±lr steps, differently in each run.
            d = len(w) // 3
            w, v = torch.cat([w[:d], w[2 * d :]]), torch.cat([v[:d], v[2 * d :]])
        torch.testing.assert_close(v, w, rtol=1e-5, atol=1e-6, msg=name)


def test_resume_under_ddp_continues_like_one_process(runs):
    ref_rows, rows = _rows(runs["ref"][0]), _rows(runs["ddp"][0])
    assert rows[-1]["epoch"] == 3 and rows[-1]["ranks_agree"] is True
    assert rows[-1]["loss"] == pytest.approx(ref_rows[-1]["loss"], rel=1e-5)
    state = torch.load(runs["ddp"][0] / "last.pt")
    assert state["info"]["epoch"] == 3 and state["info"]["metrics"]["world_size"] == 2


@pytest.mark.parametrize("kind", ["cvaegan", "evaluator"])
def test_gan_and_evaluator_train_under_ddp(tmp_path, kind):
    """CVAEGAN's generator and discriminator share one step; the evaluator has its plateau
    schedule and summed losses. Both must finish with the ranks in agreement."""
    cwd, out = tmp_path, "run"
    write_benchmark(small_bench(71), cwd / "bench.npz")
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    cmd = [*launch, "--standalone", "-m", "cktgen_eda", "train", "--model", kind]
    cmd += ["--dataset", "bench.npz", "--preset", "tiny", "--epochs", "1", "--out-dir", out]
    env = {**os.environ, "CKTGEN_EDA_DDP_TIMEOUT_S": "120"}
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = _rows(cwd / out)
    assert [(x["epoch"], x["world_size"], x["ranks_agree"]) for x in rows] == [(1, 2, True)]
