"""Training seconds per epoch and inference ms per circuit of every method, on this CPU.

Paper Fig. 9 style. Training: mean of ``--batches`` timed steps (forward, backward, AdamW)
at batch 128 after 2 warm-ups, times the steps of one ocb101 epoch; LDT is reported as its
denoiser alone and as denoiser + VAE (the paper sums both stages). Inference: one circuit
per test joint class (a batch of 208), mean over ``--reps``. Run it on a quiet machine.

    python benchmarks/train_speed.py --json benchmarks/results/paper/speed_ocb101.json
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from cktgen_eda.data.dataset import collate, split_datasets
from cktgen_eda.data.store import load_benchmark
from cktgen_eda.evaluation.cond_gen import clusters
from cktgen_eda.model.registry import build_model, make_config

METHODS = ["cktgen", "pace", "cktgnn", "cvaegan", "ldt", "recon"]


def time_training(model, ds, batches: int, batch_size: int = 128) -> float:
    """Mean seconds per optimisation step."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(len(ds), generator=g).tolist()
    model.train()
    times = []
    for k in range(batches + 2):
        idx = order[k * batch_size : (k + 1) * batch_size]
        t0 = time.perf_counter()
        loss, _ = model.loss(collate(ds.__getitems__(idx)))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if k >= 2:
            times.append(time.perf_counter() - t0)
    return sum(times) / len(times)


def time_inference(model, classes: torch.Tensor, reps: int) -> float:
    model.eval()
    g = torch.Generator().manual_seed(0)
    model.generate(classes, g)  # warm-up
    t0 = time.perf_counter()
    for _ in range(reps):
        model.generate(classes, g)
    return 1000 * (time.perf_counter() - t0) / (reps * len(classes))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=8)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--vae", default="runs/paper/ocb101_recon.pt", help="LDT's frozen VAE")
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    bench = load_benchmark("ocb101")
    train_ds, test_ds, cleaned = split_datasets(bench, drop_invalid=True)
    steps = -(-len(train_ds) // 128)
    classes = torch.as_tensor(clusters(test_ds)[0])
    out = {"threads": 2, "batch_size": 128, "steps_per_epoch": steps, "methods": {}}
    for kind in METHODS:
        if kind == "ldt":
            from cktgen_eda.model.baselines.ldt import LDT

            model = LDT.from_vae(args.vae, cleaned.scheme)
            model.prepare(train_ds)
        elif kind == "recon":  # the circuit VAE (LDT's first stage)
            model = build_model("cktgen", make_config("cktgen", "recon"), cleaned.scheme)
        else:
            model = build_model(kind, make_config(kind), cleaned.scheme)
        step = time_training(model, train_ds, args.batches)
        row = {
            "parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "s_per_step": step,
            "s_per_epoch": step * steps,
            "ms_per_circuit": None
            if kind == "recon"
            else time_inference(model, classes, args.reps),
        }
        out["methods"][kind] = row
        print(kind, json.dumps(row), flush=True)
    vae = out["methods"]["recon"]["s_per_epoch"]
    out["methods"]["ldt"]["s_per_epoch_with_vae"] = out["methods"]["ldt"]["s_per_epoch"] + vae
    print(json.dumps(out, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
