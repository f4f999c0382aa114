"""Compare generator settings against an original OCB label file (how recipes were chosen).

For each candidate setting, generate and ngspice-label a sample, then print its class shares
(gain / bw / pm), the largest gap to the reference in percentage points, and quantiles. The
recipe settings in ``cktgen_eda/data/recipes.toml`` and the table in docs/datasets.md come
from runs of this script.

    python benchmarks/fit_recipe.py --ref ../shared/data/perform301.csv -n 4000 \
        --try p_stage3=0.8 --try gm_max=60 --try gm_max=60,p_comp=0.8
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import replace

from cktgen_eda.data.build import label
from cktgen_eda.data.generator import GeneratorSettings, generate
from cktgen_eda.data.stats import (
    Labels,
    compare,
    failures_as_placeholders,
    labels_from_measurements,
    summarize,
)

# Ranges of --random draws: (low, high) per generator knob.
SEARCH = {
    "p_stage3": (0.6, 1.0),
    "p_side": (0.5, 1.0),
    "p_comp": (0.4, 1.0),
    "r_max": (50, 300),
    "c_max": (50, 500),
    "gm_max": (50, 100),
}


def parse_setting(text: str) -> GeneratorSettings:
    s = GeneratorSettings()
    for part in filter(None, text.split(",")):
        key, value = part.split("=")
        s = replace(s, **{key.strip(): float(value)})
    return s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", required=True, help="original perform CSV")
    ap.add_argument("-n", type=int, default=4000, help="circuits per setting")
    ap.add_argument("--reuse", type=int, default=1, help="K (1 = independent draws)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--try", dest="tries", action="append", default=[], help="k=v,k=v")
    ap.add_argument("--random", type=int, default=0, help="also try this many random settings")
    ap.add_argument(
        "--placeholders",
        action="store_true",
        help="compare with our failed runs labelled as OCB-101 did (class 1,0,2)",
    )
    ap.add_argument("--json", help="append one JSON line per setting to this file")
    args = ap.parse_args()
    ref = summarize(Labels.from_csv(args.ref))
    pct = lambda xs: " ".join(f"{100 * x:4.1f}" for x in xs)  # noqa: E731
    print(
        f"reference {args.ref}: gain {pct(ref['class_shares']['gain'])} | "
        f"pm {pct(ref['class_shares']['pm'])} | bw {pct(ref['class_shares']['bw'][:8])}"
    )
    draw = random.Random(args.seed + 1)
    tries = list(args.tries) + [
        ",".join(
            f"{k}={round(draw.uniform(lo, hi), 2 if k.startswith('p_') else 0)}"
            for k, (lo, hi) in SEARCH.items()
        )
        for _ in range(args.random)
    ]
    for text in tries or [""]:
        settings = parse_setting(text)
        t0 = time.perf_counter()
        rows = list(generate(random.Random(args.seed), args.n, args.reuse, settings))
        lab = label([c for _, c in rows])
        labels = labels_from_measurements(
            lab["gain_db"], lab["ugf_hz"], lab["pm_deg"], lab["valid"], args.n
        )
        ours = summarize(failures_as_placeholders(labels) if args.placeholders else labels)
        gaps = compare(ours, ref)["class_share_gap"]
        q = ours["quantiles"]
        print(
            f"[{text or 'released'}] {time.perf_counter() - t0:.0f}s "
            f"valid {ours['valid_share']:.3f}"
            f" | gain {pct(ours['class_shares']['gain'])} | pm {pct(ours['class_shares']['pm'])}"
            f" | bw {pct(ours['class_shares']['bw'][:8])}"
            f" | max gap pp: "
            + " ".join(f"{k} {g['max_pp']:.1f}@{g['class']}" for k, g in gaps.items())
            + f" | UGF GHz p50 {q['ugf_ghz']['50%']:.2f} p95 {q['ugf_ghz']['95%']:.2f}"
            f" gain p50 {q['gain_db']['50%']:.0f}",
            flush=True,
        )
        if args.json:
            with open(args.json, "a") as f:
                f.write(
                    json.dumps(
                        {
                            "settings": text,
                            "n": args.n,
                            "reuse": args.reuse,
                            "seed": args.seed,
                            "summary": ours,
                            "gaps": gaps,
                        }
                    )
                    + "\n"
                )


if __name__ == "__main__":
    main()
