"""`size` on dataset amplifiers, each aimed at a box made from another circuit of its topology.

Pairs (a, b) of working amplifiers (stable both ways, gain above 0 dB) of one topology are
drawn from a shipped benchmark; circuit a is sized into b's box (gain ± 20 dB, UGF ×/÷ 2,
loop PM ± 30°, a working amplifier required). Prints the share met (fast engine, then
confirmed by ngspice), the methods used and the time per circuit (one batched call).

    python benchmarks/size_topologies.py --pairs 200 --json benchmarks/results/size_topologies.json
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import defaultdict

from cktgen_eda.data.store import load_benchmark
from cktgen_eda.netlist.ngspice import verify
from cktgen_eda.sizing import OBJECTIVES, size
from cktgen_eda.spec import Interval, Spec


def pairs(bench, n: int, seed: int) -> list[tuple[int, int]]:
    """``n`` random (a, b) row pairs of distinct working amplifiers sharing a topology."""
    ok = bench["valid"] & bench["stable"] & bench["cl_stable"] & (bench["gain_db"] > 0)
    by_topo = defaultdict(list)
    for r in map(int, ok.nonzero()[0]):
        by_topo[int(bench["topology"][r])].append(r)
    groups = [g for g in by_topo.values() if len(g) >= 2]
    rng = random.Random(seed)
    return [tuple(rng.sample(rng.choice(groups), 2)) for _ in range(n)]


def box(bench, r: int) -> Spec:
    g, u, p = (float(bench[c][r]) for c in ("gain_db", "ugf_hz", "pm_loop_deg"))
    return Spec(Interval(g - 20, g + 20), Interval(u / 2, u * 2), Interval(p - 30, p + 30))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="ocb101")
    ap.add_argument("--pairs", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--objective", default="power", choices=OBJECTIVES)
    ap.add_argument("--json")
    args = ap.parse_args()
    bench = load_benchmark(args.dataset)
    todo = pairs(bench, args.pairs, args.seed)
    circuits = [bench.circuit(a, with_spec=False) for a, _ in todo]
    specs = [box(bench, b) for _, b in todo]
    t0 = time.perf_counter()
    res = size(circuits, specs, objective=args.objective)
    seconds = time.perf_counter() - t0
    checked = verify([r.circuit for r in res])
    confirmed = [
        r.met and sim.measurement.with_spec(s).meets_spec for r, s, sim in zip(res, specs, checked)
    ]
    before = sum(bool(r.before.with_spec(s).meets_spec) for r, s in zip(res, specs))
    summary = {
        "dataset": args.dataset,
        "pairs": len(todo),
        "objective": args.objective,
        "met_before": before / len(todo),
        "met_fast": sum(r.met for r in res) / len(todo),
        "met_ngspice": sum(confirmed) / len(todo),
        "methods": {m: sum(r.method == m for r in res) for m in ("gradient", "search")},
        "ms_per_circuit": seconds / len(todo) * 1e3,
    }
    print(json.dumps(summary))
    if args.json:
        rows = [
            {
                "a": a,
                "b": b,
                "spec": s.to_text(),
                "met": r.met,
                "ngspice": bool(ok),
                "method": r.method,
                "fails": list(r.after.fails),
            }
            for (a, b), s, r, ok in zip(todo, specs, res, confirmed)
        ]
        with open(args.json, "w") as f:
            json.dump({"summary": summary, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
