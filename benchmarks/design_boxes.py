"""`design` on two-sided spec boxes around real test circuits (harder than class targets).

Same 50 boxes as benchmarks/eval_cktgen.py (seed 0): gain ± 20 dB, UGF ×/÷ 2, PM ± 30°, in
the benchmark's raw convention; ``--working`` draws them around working test amplifiers
instead (PM around the loop margin) and requires a working amplifier to pass. The search
screens with the exact engine and sizes the ``--refine`` best circuits after it
(docs/design.md); ngspice confirms every reported design.

    python benchmarks/design_boxes.py --json benchmarks/results/design_boxes_ocb101.json
    python benchmarks/design_boxes.py --working \
        --json benchmarks/results/design_boxes_working_refine.json
"""

from __future__ import annotations

import argparse
import json
import time

from cktgen_eda.data.dataset import split_datasets
from cktgen_eda.data.store import load_benchmark
from cktgen_eda.design import design
from cktgen_eda.evaluation.boxes import spec_boxes
from cktgen_eda.training.checkpoint import load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--specs", type=int, default=50)
    ap.add_argument("--budget", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--working", action="store_true", help="product specs (stable passes)")
    ap.add_argument("--objective", default="fom", choices=["fom", "power", "margin"])
    ap.add_argument("--refine", type=int, default=16, help="circuits sized after the search")
    ap.add_argument("--json")
    args = ap.parse_args()
    bench = load_benchmark("ocb101")
    _, _, cleaned = split_datasets(bench, drop_invalid=True)
    model, out = load_model("ocb101"), []
    for spec in spec_boxes(bench, cleaned.test_rows, args.specs, args.seed, args.working):
        t0 = time.perf_counter()
        res = design(
            spec,
            budget=args.budget,
            model=model,
            seed=args.seed,
            objective=args.objective,
            refine=args.refine,
        )
        out.append(
            {
                "spec": spec.to_text(),
                "met": res.best is not None,
                "best_works": bool(res.best and res.best.measurement.works),
                "feasible": res.feasible,
                "seconds": time.perf_counter() - t0,
            }
        )
    summary = {
        "specs": len(out),
        "budget": args.budget,
        "working": args.working,
        "objective": args.objective,
        "refine": args.refine,
        "met": sum(o["met"] for o in out) / len(out),
        "met_by_working_amplifier": sum(o["best_works"] for o in out) / len(out),
        "seconds_per_spec": sum(o["seconds"] for o in out) / len(out),
    }
    print(json.dumps(summary))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": summary, "rows": out}, f, indent=2)


if __name__ == "__main__":
    main()
