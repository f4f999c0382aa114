"""How the working-amplifier benchmarks differ from the ones they filter (docs/datasets.md).

python benchmarks/stable_report.py [ocb101 stable101] [--json benchmarks/results/stable_report.json]

For each benchmark: class shares, joint classes, distinct topologies, and the circuit kinds
(stages, side paths, feedback paths, inverting main stages) with the share of each kind that
is a working amplifier in the unfiltered benchmark, which is what the filter removes.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter

import numpy as np

from cktgen_eda.data.build import working
from cktgen_eda.data.store import load_benchmark
from cktgen_eda.netlist.layout import layout


def kinds(bench) -> list[dict[str, int]]:
    """Per row: main stages, side paths, feedback side paths, inverting main stages."""
    out = []
    for c in bench.circuits():
        lay = layout(c)
        out.append(
            {
                "stages": len(lay.stages),
                "side paths": len(lay.sides),
                "feedback paths": sum(not s.above for s in lay.sides),
                "inverting stages": sum(c.nodes[i].kind.gm_sign > 0 for i in lay.stages),
            }
        )
    return out


def report(name: str) -> dict:
    bench = load_benchmark(name)
    a = bench.arrays
    ok = working(bench.arrays)
    rows = kinds(bench)
    by_kind = {}
    for key in rows[0]:
        values = Counter(r[key] for r in rows)
        by_kind[key] = {
            str(v): {
                "share": round(n / len(rows), 4),
                "working": round(float(ok[[r[key] == v for r in rows]].mean()), 4),
            }
            for v, n in sorted(values.items())
        }
    valid = a["valid"]
    joint = {tuple(x) for x in np.stack([a["gain_cls"], a["bw_cls"], a["pm_cls"]], 1)[valid]}
    return {
        "name": name,
        "circuits": len(bench),
        "working share": round(float(ok.mean()), 4),
        "topologies": len(set(a["topology"].tolist())),
        "joint classes": len(joint),
        "class shares": {
            key: {
                str(k): round(v / int(valid.sum()), 4)
                for k, v in sorted(Counter(a[f"{key}_cls"][valid].tolist()).items())
            }
            for key in ("gain", "bw", "pm")
        },
        "kinds": by_kind,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=["ocb101", "stable101"])
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    out = [report(n) for n in args.names]
    for r in out:
        print(
            f"{r['name']}: {r['circuits']:,} circuits, {r['topologies']:,} topologies, "
            f"{r['joint classes']} joint classes, working {100 * r['working share']:.1f} %"
        )
        for key, table in r["kinds"].items():
            cells = ", ".join(
                f"{v}: {100 * t['share']:.1f} % (working {100 * t['working']:.0f} %)"
                for v, t in table.items()
            )
            print(f"  {key}: {cells}")
        for key, shares in r["class shares"].items():
            top = sorted(shares.items(), key=lambda kv: -kv[1])[:6]
            print(f"  {key} classes: " + ", ".join(f"{k}: {100 * v:.1f} %" for k, v in top))
    if args.json_path:
        with open(args.json_path, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
