"""`generate --refine` on spec boxes around working test amplifiers, and on three named specs.

50 two-sided boxes (seed 0) drawn as in benchmarks/design_boxes.py --working: gain ± 20 dB,
UGF ×/÷ 2, loop PM ± 30° around test circuits of ocb101 that are working amplifiers. Each
box gets ``generate(n=16, verify=True)`` with and without ``refine``: a box is met when
ngspice confirms at least one candidate (a pass needs a stable amplifier both ways). The
named specs report stable passes out of 16. Then the wall time of the command
``cktgen-eda generate --spec … -n 16 --refine --verify`` (start-up included).

    python benchmarks/refine_boxes.py --json benchmarks/results/refine_boxes.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from cktgen_eda.data.dataset import split_datasets
from cktgen_eda.data.store import load_benchmark
from cktgen_eda.evaluation.boxes import spec_boxes
from cktgen_eda.generation import generate
from cktgen_eda.spec import parse_spec
from cktgen_eda.training.checkpoint import load_model

NAMED = ("ugf=100MHz..200MHz", "gain=20dB..40dB,pm>=60deg", "gain>=60dB,ugf>=500MHz,pm>=60deg")


def run(spec, model, seed: int, refine: bool) -> dict:
    t0 = time.perf_counter()
    res = generate(spec, n=16, model=model, seed=seed, verify=True, refine=refine)
    passes = sum(bool(c.meets) for c in res.candidates)
    works = sum(bool(c.meets and c.measurement.works) for c in res.candidates)
    return {
        "passes": passes,
        "stable_passes": works,
        "seconds": time.perf_counter() - t0,
        "refine": res.info.get("refine"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--specs", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cli-runs", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()
    bench = load_benchmark("ocb101")
    _, _, cleaned = split_datasets(bench, drop_invalid=True)
    model = load_model("ocb101")
    rows = []
    boxes = spec_boxes(bench, cleaned.test_rows, args.specs, args.seed, working=True)
    for k, spec in enumerate(boxes):
        before, after = run(spec, model, k, False), run(spec, model, k, True)
        rows.append({"spec": spec.to_text(), "before": before, "after": after})
        print(
            f"{k:3d} {spec}: {before['stable_passes']} → {after['stable_passes']}", file=sys.stderr
        )
    named = {}
    for text in NAMED:
        named[text] = {
            "before": run(parse_spec(text), model, 0, False),
            "after": run(parse_spec(text), model, 0, True),
        }
    cli = Path(sys.executable).with_name("cktgen-eda")
    walls = []
    for _ in range(args.cli_runs):
        t0 = time.perf_counter()
        subprocess.run(
            [str(cli), "generate", "--spec", NAMED[0], "-n", "16", "--refine", "--verify"],
            check=True,
            capture_output=True,
        )
        walls.append(time.perf_counter() - t0)
    n = len(rows)
    sized = [r["after"]["refine"] for r in rows]
    summary = {
        "boxes": n,
        "met_before": sum(r["before"]["stable_passes"] > 0 for r in rows) / n,
        "met_after": sum(r["after"]["stable_passes"] > 0 for r in rows) / n,
        "stable_passes_per_box_before": statistics.mean(r["before"]["stable_passes"] for r in rows),
        "stable_passes_per_box_after": statistics.mean(r["after"]["stable_passes"] for r in rows),
        "seconds_per_generate_before": statistics.mean(r["before"]["seconds"] for r in rows),
        "seconds_per_generate_after": statistics.mean(r["after"]["seconds"] for r in rows),
        "refine_ms_per_sized_topology": 1e3
        * sum(s["seconds"] for s in sized)
        / sum(s["sized"] for s in sized),
        "named": {
            k: {w: v[w]["stable_passes"] for w in ("before", "after")} for k, v in named.items()
        },
        "cli_wall_s": {"best": min(walls), "median": statistics.median(walls)},
    }
    print(json.dumps(summary, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": summary, "rows": rows, "named": named}, f, indent=1)


if __name__ == "__main__":
    main()
