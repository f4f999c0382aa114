"""The exact engine (``netlist/fastac.py``) against ngspice on many random circuits.

For each recipe: the worst relative difference of H over every sweep point, and of gain,
UGF and PM; identical valid/invalid and stability verdicts; and each engine's speed.

    python benchmarks/fastac_crosscheck.py [--n 10000] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import random
import time

import numpy as np

from cktgen_eda.data.generator import generate
from cktgen_eda.data.recipes import get_recipe
from cktgen_eda.netlist import fastac
from cktgen_eda.netlist.ngspice import verify


def compare(recipe: str, n: int, seed: int, chunk: int = 2000) -> dict:
    circuits = [c for _, c in generate(random.Random(seed), n, 1, get_recipe(recipe).settings)]
    worst = {"h": 0.0, "gain_db": 0.0, "ugf_rel": 0.0, "pm_deg": 0.0}
    verdicts = {"valid": 0, "stable": 0, "cl_stable": 0}
    t_ng = t_fa = 0.0
    for k in range(0, n, chunk):  # chunks keep the sweeps of both engines small in memory
        part = circuits[k : k + chunk]
        t = time.perf_counter()
        ng = verify(part, keep_sweep=True)
        t_ng += time.perf_counter() - t
        t = time.perf_counter()
        fa = fastac.verify(part, keep_sweep=True)
        t_fa += time.perf_counter() - t
        for a, b in zip(ng, fa):
            nz = np.abs(a.h) > 0  # H = 0 exactly (a shorted output) is compared absolutely
            rel = np.abs(b.h[nz] - a.h[nz]) / np.abs(a.h[nz])
            worst["h"] = max(
                worst["h"], float(rel.max(initial=0.0)), float(np.abs(b.h[~nz]).max(initial=0.0))
            )
            ma, mb = a.measurement, b.measurement
            for key in verdicts:
                verdicts[key] += getattr(ma, key) != getattr(mb, key)
            if ma.valid and mb.valid:
                worst["gain_db"] = max(worst["gain_db"], abs(ma.gain_db - mb.gain_db))
                worst["ugf_rel"] = max(worst["ugf_rel"], abs(ma.ugf_hz - mb.ugf_hz) / ma.ugf_hz)
                worst["pm_deg"] = max(worst["pm_deg"], abs(ma.pm_deg - mb.pm_deg))
    return {
        "recipe": recipe,
        "circuits": n,
        "worst": worst,
        "verdict_disagreements": verdicts,
        "ngspice_circuits_per_s": n / t_ng,
        "fast_circuits_per_s": n / t_fa,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10000, help="circuits per recipe")
    ap.add_argument("--seed", type=int, default=2027)
    ap.add_argument("--json")
    args = ap.parse_args()
    out = [compare(r, args.n, args.seed + k) for k, r in enumerate(("ocb101", "ocb301"))]
    for r in out:
        print(json.dumps(r))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
