"""Pick a model's decode temperature: stable candidates against diversity, per temperature.

python benchmarks/decode_temperature.py --model stable101 --json OUT.json

The selection set is kept apart from the acceptance set of benchmarks/stable_model.py:
50 spec boxes around working ocb101 test amplifiers drawn with seed 1 (stable_model.py
uses seed 0), 16 candidates each, no refine. The exact engine (netlist/fastac.py; the same
stability verdicts as ngspice, docs/simulation.md) judges every candidate. Reported per
temperature: valid share, share stable both ways (open loop and at unity gain), share of
specs met by a stable candidate, distinct topologies over all candidates and per spec.
The rule used for the shipped default (docs/training.md): the highest temperature whose
stable share here is at least --target.
"""

from __future__ import annotations

import argparse
import json
import time

from cktgen_eda.data.dataset import split_datasets
from cktgen_eda.data.store import load_benchmark
from cktgen_eda.evaluation.boxes import spec_boxes
from cktgen_eda.generation import generate
from cktgen_eda.training.checkpoint import load_model

TEMPERATURES = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4)


def topology(circuit) -> tuple:
    """Node types, positions and edges: the circuit without its device values."""
    return tuple((n.type, n.pos) for n in circuit.nodes), tuple(sorted(circuit.edges))


def sweep(model, specs, temperature: float) -> dict:
    total = valid = stable = met = 0
    seen: set = set()
    per_spec = []
    t0 = time.perf_counter()
    for k, spec in enumerate(specs):
        res = generate(spec, n=16, model=model, seed=k, verify=True, simulator="fast",
                       temperature=temperature)  # fmt: skip
        mine = set()
        for c in res.candidates:
            total += 1
            if c.circuit is None:
                continue
            valid += 1
            mine.add(topology(c.circuit))
            stable += bool(c.measurement.stable and c.measurement.cl_stable)
        seen |= mine
        per_spec.append(len(mine))
        met += any(c.meets and c.measurement.works for c in res.candidates)
    return {
        "temperature": temperature,
        "candidates": total,
        "valid_share": round(valid / total, 4),
        "stable_both_share": round(stable / total, 4),
        "specs_met_by_stable": round(met / len(specs), 4),
        "distinct_topologies": len(seen),
        "distinct_per_spec": round(sum(per_spec) / len(per_spec), 2),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="stable101")
    ap.add_argument("--specs", type=int, default=50)
    ap.add_argument("--target", type=float, default=0.91)
    ap.add_argument("--temperatures", default=",".join(map(str, TEMPERATURES)))
    ap.add_argument("--json")
    args = ap.parse_args()
    bench = load_benchmark("ocb101")
    _, _, cleaned = split_datasets(bench, drop_invalid=True)
    specs = spec_boxes(bench, cleaned.test_rows, args.specs, 1, working=True)
    model = load_model(args.model)
    rows = []
    for t in (float(x) for x in args.temperatures.split(",")):
        rows.append(sweep(model, specs, t))
        r = rows[-1]
        print(
            f"T={t:<4g} valid {r['valid_share']:.3f}  stable {r['stable_both_share']:.3f}  "
            f"met {r['specs_met_by_stable']:.3f}  topologies {r['distinct_topologies']} "
            f"({r['distinct_per_spec']:.1f}/16 per spec)  {r['seconds']:.0f} s",
            flush=True,
        )
    ok = [r["temperature"] for r in rows if r["stable_both_share"] >= args.target]
    choice = max(ok) if ok else None
    print(f"highest temperature with stable share >= {args.target}: {choice}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": args.model, "target": args.target, "choice": choice,
                       "rows": rows}, f, indent=1)  # fmt: skip


if __name__ == "__main__":
    main()
