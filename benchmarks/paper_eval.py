"""Evaluate the trained models of the paper's tables; one JSON per (model, task).

cond-gen (surrogate + ngspice judges), recon and uncond, as ``cktgen-eda evaluate`` runs
them, for checkpoints named DATASET_METHOD.pt in RUNS (benchmarks/paper_train.py) plus the
shipped model. Results go to benchmarks/results/paper/DATASET_METHOD_TASK.json, which
benchmarks/paper_tables.py turns into docs/results.md.

    python benchmarks/paper_eval.py runs/paper --task cond-gen --only ocb101_cktgen
    python benchmarks/paper_eval.py runs/paper --task recon uncond --only ocb101_recon
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from cktgen_eda.data.dataset import split_datasets
from cktgen_eda.data.store import load_benchmark
from cktgen_eda.evaluation import cond_gen, recon
from cktgen_eda.fileio import atomic_write
from cktgen_eda.training.checkpoint import load_evaluator, load_model, model_path

RESULTS = Path(__file__).parent / "results" / "paper"


def variant(name: str) -> tuple[str, dict]:
    """``NAME+rerank4`` / ``NAME+greedy``: the checkpoint NAME with decoding options."""
    base, _, opt = name.partition("+")
    if not opt:
        return base, {}
    if opt == "greedy":
        return base, {"greedy": True}
    if opt.startswith("rerank"):
        return base, {"rerank": int(opt[len("rerank") :])}
    raise SystemExit(f"unknown variant {opt!r}")


def checkpoint(runs: Path, name: str) -> Path:
    """``ocb101_shipped`` is the shipped model; anything else a file in ``runs``."""
    if name.endswith("_shipped"):
        return model_path(name.split("_", 1)[0])
    return runs / f"{name}.pt"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", type=Path)
    ap.add_argument("--only", nargs="+", required=True, help="DATASET_METHOD names")
    ap.add_argument("--task", nargs="+", default=["cond-gen"])
    ap.add_argument("--rounds", type=int, default=120)
    ap.add_argument("--evaluator", help="default: the shipped evaluator of the dataset")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(2)
    RESULTS.mkdir(parents=True, exist_ok=True)
    for name in args.only:
        dataset = name.split("_", 1)[0]
        bench = load_benchmark(dataset)
        train_ds, test_ds, _ = split_datasets(bench, drop_invalid=True)
        base, options = variant(name)
        path = checkpoint(args.runs, base)
        for task in args.task:
            t0 = time.time()
            model = load_model(path, with_encoder=task != "cond-gen" or "rerank" in options)
            head = {
                "name": name,
                "task": task,
                "dataset": dataset,
                "kind": model.kind,
                "checkpoint": str(path),
                "decoding": options,
                "config": model.config.to_dict(),
                "train": {k: model.info.get(k) for k in ("epoch", "train_seconds", "train_config")},
            }
            if task == "cond-gen":
                ev = load_evaluator(args.evaluator or dataset)
                res = cond_gen.run(
                    model, ev, test_ds, rounds=args.rounds, seed=args.seed, **options
                )
                # held-out report: "metrics" of a train run, "report" of older files
                head["evaluator"] = ev.info.get("metrics", ev.info.get("report"))
            elif task == "recon":
                res = recon.reconstruction(model, test_ds)
            else:
                res = recon.unconditional(model, train_ds, seed=args.seed)
            out = {**head, "results": res, "eval_seconds": round(time.time() - t0, 1)}
            dest = RESULTS / f"{name}_{task}.json"
            atomic_write(dest, json.dumps(out, indent=2).encode(), force=True)
            print(name, task, json.dumps(res), file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
