"""Does a model propose working amplifiers? Spec boxes, README specs and `design`, by ngspice.

python benchmarks/stable_model.py --model stable101 [--temperature T] --json OUT.json

The same 50 two-sided boxes for every model (benchmarks/refine_boxes.py: around working test
amplifiers of ocb101, seed 0) plus the README's specs. Each spec gets
``generate(n=16, verify=True)`` without and with ``refine``; reported: the share of
candidates that are valid circuits, the share that are stable both ways (open loop and at
unity gain) in ngspice, and the share of specs met by a stable design. Then ``design`` on
the README specs: stable passes among the screened samples, per 256. The decoder samples at
the model's own temperature unless --temperature says otherwise (generation.decode_temperature).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from cktgen_eda.data.dataset import split_datasets
from cktgen_eda.data.store import load_benchmark
from cktgen_eda.design import search
from cktgen_eda.evaluation.boxes import spec_boxes
from cktgen_eda.generation import decode_temperature, generate
from cktgen_eda.spec import parse_spec
from cktgen_eda.training.checkpoint import load_model

README_SPECS = (
    "gain>=80dB,ugf>=1GHz,pm>=45deg",  # make demo
    "gain>=60dB,ugf>=50MHz,pm>=45deg",
    "gain>=100dB,ugf>=2GHz,pm>=30deg",  # the design example
    "ugf=100MHz..200MHz",
    "gain=20dB..40dB,pm>=60deg",
    "gain>=60dB,ugf>=500MHz,pm>=60deg",
)


def run(spec, model, seed: int, refine: bool, temperature: float | None) -> dict:
    t0 = time.perf_counter()
    res = generate(
        spec, n=16, model=model, seed=seed, verify=True, refine=refine, temperature=temperature
    )
    cands = res.candidates
    ms = [c.measurement for c in cands if c.measurement is not None]
    return {
        "candidates": len(cands),
        "valid": sum(c.circuit is not None for c in cands),
        "stable_both": sum(bool(m.stable and m.cl_stable) for m in ms),
        "stable_passes": sum(bool(c.meets and c.measurement.works) for c in cands),
        "seconds": round(time.perf_counter() - t0, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="stable101")
    ap.add_argument("--specs", type=int, default=50)
    ap.add_argument("--budget", type=int, default=256)
    ap.add_argument("--temperature", type=float, help="decode temperature [the model's own]")
    ap.add_argument("--json")
    args = ap.parse_args()
    bench = load_benchmark("ocb101")
    _, _, cleaned = split_datasets(bench, drop_invalid=True)
    model = load_model(args.model)
    specs = spec_boxes(bench, cleaned.test_rows, args.specs, 0, working=True)
    specs += [parse_spec(t) for t in README_SPECS]
    rows = []
    for k, spec in enumerate(specs):
        t = args.temperature
        before, after = run(spec, model, k, False, t), run(spec, model, k, True, t)
        rows.append({"spec": spec.to_text(), "before": before, "after": after})
        print(
            f"{k:3d} {spec}: stable {before['stable_both']}/16, met {after['stable_passes']}",
            file=sys.stderr,
        )
    designs = {}
    for text in README_SPECS[:3]:
        t0 = time.perf_counter()
        res = search(text, budget=args.budget, model=model, seed=0, temperature=args.temperature)
        designs[text] = {
            "samples": res.samples,
            "stable_passes": res.feasible,
            "per_256": round(256 * res.feasible / res.samples, 1),
            "designs": len(res.designs),
            "seconds": round(time.perf_counter() - t0, 2),
        }

    def share(key: str, part: str, of: str = "candidates") -> float:
        return round(sum(r[part][key] for r in rows) / sum(r[part][of] for r in rows), 4)

    summary = {
        "model": args.model,
        "temperature": decode_temperature(model, args.temperature),
        "specs": len(rows),
        "valid_share": share("valid", "before"),
        "stable_both_share": share("stable_both", "before"),
        "met_by_stable_design": round(
            sum(r["before"]["stable_passes"] > 0 for r in rows) / len(rows), 4
        ),
        "met_by_stable_design_refine": round(
            sum(r["after"]["stable_passes"] > 0 for r in rows) / len(rows), 4
        ),
        "boxes_met_refine": round(
            sum(r["after"]["stable_passes"] > 0 for r in rows[: args.specs]) / args.specs, 4
        ),
        "seconds_per_generate": statistics.mean(r["before"]["seconds"] for r in rows),
        "design": designs,
    }
    print(json.dumps(summary, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": summary, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
