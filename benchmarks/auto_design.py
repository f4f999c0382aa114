"""The paper's auto-design protocol (§3.3, ocb-format.md §5.5), judged by ngspice.

Targets, as in CktGen: (a) every joint class (g, b, p) of the cleaned dataset read as "class
≥ target" — physically gain ≥ the class's lower gain edge, UGF ≥ b GHz and PM ≤ 90·(2 − p)°
(a higher pm class means a lower PM); (b) random grid points that are not classes but are
dominated by one. For each target, ``design`` spends ``--budget`` samples; we record whether
a design meets it (verified by ngspice), its FoM, the best FoM among the dataset's own
circuits meeting the same target, and the wall time.

    python benchmarks/auto_design.py --classes 100 --random 50 --json benchmarks/results/x.json
"""

from __future__ import annotations

import argparse
import json
import random
import time

import numpy as np

from cktgen_eda.data.dataset import split_key
from cktgen_eda.data.stats import Labels, clean_rows
from cktgen_eda.data.store import load_benchmark
from cktgen_eda.design import design
from cktgen_eda.spec import BW_OFFSET, GAIN_OFFSET, PM_OFFSET, Interval, Spec
from cktgen_eda.training.checkpoint import load_model


def target_spec(g: int, b: int, p: int) -> Spec:
    return Spec(
        Interval((g - GAIN_OFFSET) * 100, None),
        Interval((b - BW_OFFSET) * 1e9 if b > 0 else None, None),
        Interval(None, 90 * (PM_OFFSET - p) if p > 0 else None),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="ocb101")
    ap.add_argument("--model", default="ocb101")
    ap.add_argument(
        "--classes", type=int, default=0, help="sample this many class targets (0: all)"
    )
    ap.add_argument("--random", type=int, default=50)
    ap.add_argument("--budget", type=int, default=256)
    ap.add_argument("--strategy", default="ucb")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json")
    args = ap.parse_args()
    bench = load_benchmark(args.dataset)
    lab = Labels.of(bench)
    tr, te, _ = clean_rows(lab)
    valid = bench["valid"]
    keys = sorted(
        {int(k) for k in lab.joint()[np.concatenate([tr, te])][valid[np.concatenate([tr, te])]]}
    )
    classes = [split_key(k) for k in keys]
    rng = random.Random(args.seed)
    picked = classes if not args.classes else rng.sample(classes, min(args.classes, len(classes)))
    grid = []
    cset = set(classes)
    while len(grid) < args.random:
        t = (rng.randrange(4), rng.randrange(32), rng.randrange(4))
        if t not in cset and any(all(c >= x for c, x in zip(k, t)) for k in classes):
            grid.append(t)
    model = load_model(args.model)
    g, u, p = bench["gain_db"], bench["ugf_hz"], bench["pm_deg"]
    rows = []
    for kind, targets in (("class", picked), ("random", grid)):
        for t in targets:
            spec = target_spec(*t)
            ok = valid & np.array(
                [spec.meets(a, b_, c) if v else False for a, b_, c, v in zip(g, u, p, valid)]
            )
            data_best = float(bench["fom_raw"][ok].max()) if ok.any() else None
            t0 = time.perf_counter()
            res = design(
                spec, budget=args.budget, model=model, strategy=args.strategy, seed=args.seed
            )
            rows.append(
                {
                    "kind": kind,
                    "target": list(t),
                    "spec": spec.to_text(),
                    "met": res.best is not None,
                    "best_fom": res.best.fom if res.best else None,
                    "dataset_best_fom": data_best,
                    "seconds": time.perf_counter() - t0,
                    "feasible": res.feasible,
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    summary = {}
    for kind in ("class", "random", "all"):
        sel = [r for r in rows if kind == "all" or r["kind"] == kind]
        ratios = [
            r["best_fom"] / r["dataset_best_fom"] for r in sel if r["met"] and r["dataset_best_fom"]
        ]
        summary[kind] = {
            "targets": len(sel),
            "satisfied": float(np.mean([r["met"] for r in sel])),
            "mean_best_fom": float(np.mean([r["best_fom"] for r in sel if r["met"]])),
            "mean_dataset_best_fom": float(
                np.mean([r["dataset_best_fom"] for r in sel if r["dataset_best_fom"]])
            ),
            "mean_fom_ratio": float(np.mean(ratios)),
            "median_fom_ratio": float(np.median(ratios)),
            "seconds_per_target": float(np.mean([r["seconds"] for r in sel])),
        }
    out = {
        "model": args.model,
        "dataset": args.dataset,
        "budget": args.budget,
        "strategy": args.strategy,
        "summary": summary,
        "rows": rows,
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
