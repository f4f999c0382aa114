"""Run the auto-design protocol and save its JSON (see cktgen_eda/evaluation/auto_design.py).

python benchmarks/auto_design.py --classes 100 --random 50 --json benchmarks/results/x.json
"""

from __future__ import annotations

import argparse
import json

from cktgen_eda.evaluation.auto_design import run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="ocb101")
    ap.add_argument("--model", default="ocb101")
    ap.add_argument("--classes", type=int, default=0, help="sample this many (0: all)")
    ap.add_argument("--random", type=int, default=50)
    ap.add_argument("--budget", type=int, default=256)
    ap.add_argument("--strategy", default="ucb")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json")
    args = ap.parse_args()
    out = run(
        args.dataset,
        args.model,
        args.classes,
        args.random,
        args.budget,
        args.strategy,
        args.seed,
        progress=True,
    )
    print(json.dumps(out["summary"], indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
