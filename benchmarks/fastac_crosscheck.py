"""The exact engine (``netlist/fastac.py``) against ngspice on many random circuits.

For each recipe, and for random plain behavioural decks (gm stages into R ∥ C nodes, E
buffers, series R–L, Miller and feedback elements, one AC source): the worst relative
difference of H over every sweep point (which bounds magnitude and phase errors), and of
gain, UGF and PM; identical valid/invalid and stability verdicts; and each engine's speed.

    python benchmarks/fastac_crosscheck.py [--n 10000] [--decks 2000] [--json FILE]
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
from cktgen_eda.netlist.deck import prepare_deck
from cktgen_eda.netlist.ngspice import SimJob, verify


def random_deck(rng: random.Random, k: int) -> SimJob:
    """A random plain deck: 1–3 gm stages, each into R ∥ C, with E buffers, series R–L,
    Miller capacitors and feedback resistors sprinkled in; output net ``out``."""
    lines = [f"* random behavioural amplifier {k}", "V1 in 0 DC 0 AC 1"]
    stages = rng.randint(1, 3)
    prev = "in"
    for i in range(stages):
        node = "out" if i == stages - 1 else f"n{i}"
        gm = rng.choice((-1, 1)) * 10 ** rng.uniform(-5, -2)
        lines.append(f"G{i} {node} 0 {prev} 0 {gm:.4g}")
        lines.append(f"R{i} {node} 0 {10 ** rng.uniform(4, 7):.4g}")
        lines.append(f"C{i} {node} 0 {10 ** rng.uniform(-14, -11):.4g}")
        if rng.random() < 0.4:
            lines.append(f"CM{i} {prev} {node} {10 ** rng.uniform(-15, -12):.4g}")
        if rng.random() < 0.3:
            lines.append(f"RF{i} {node} {prev} {10 ** rng.uniform(5, 8):.4g}")
        if rng.random() < 0.3 and node != "out":
            lines.append(f"E{i} b{i} 0 {node} 0 {rng.uniform(0.5, 2):.4g}")
            lines.append(f"RS{i} b{i} l{i} {10 ** rng.uniform(1, 3):.4g}")
            lines.append(f"L{i} l{i} m{i} {10 ** rng.uniform(-9, -6):.4g}")
            lines.append(f"RM{i} m{i} 0 {10 ** rng.uniform(3, 5):.4g}")
            node = f"m{i}"
        prev = node
    deck = prepare_deck("\n".join(lines + [".end"]) + "\n", "out", f"deck{k}")
    return SimJob(deck.text, deck.in_node, deck.out_node, label=f"deck{k}")


def compare(recipe: str, n: int, seed: int, chunk: int = 2000) -> dict:
    if recipe == "plain decks":
        rng = random.Random(seed)
        circuits = [random_deck(rng, k) for k in range(n)]
    else:
        settings = get_recipe(recipe).settings
        circuits = [c for _, c in generate(random.Random(seed), n, 1, settings)]
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
    ap.add_argument("--decks", type=int, default=2000, help="random plain decks")
    ap.add_argument("--seed", type=int, default=2027)
    ap.add_argument("--json")
    args = ap.parse_args()
    out = [compare(r, args.n, args.seed + k) for k, r in enumerate(("ocb101", "ocb301"))]
    if args.decks:
        out.append(compare("plain decks", args.decks, args.seed + 2))
    for r in out:
        print(json.dumps(r))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
