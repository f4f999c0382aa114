"""Throughput of ``verify`` on random OCB circuits: ngspice and the exact engine side by side.

Prints circuits/s end to end for each engine and worker count. ngspice: deck writing in the
parent, ngspice + measurement in the workers, with the time spent inside libngspice per
circuit (load + run + fetch, measured in the worker) and the overhead around it. The exact
engine (``--engine fast``, netlist/fastac.py) runs on a larger batch of distinct circuits
(``--fast-n``; too short a run measures start-up, not throughput) from the same generator
and seed, and its rate is compared with ngspice's at the same worker count. The two engines
alternate run by run, so both see the same load on a shared machine. Figures only, no
assertions.

Usage: python benchmarks/verify_throughput.py [--n 1000] [--fast-n 20000] [--workers 1 2]
    [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time

import numpy as np

from cktgen_eda.data.generator import sample_circuit
from cktgen_eda.netlist import fastac
from cktgen_eda.netlist.ngspice import ngspice_version, verify
from cktgen_eda.netlist.spice import write_spice


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="circuits for ngspice (1000)")
    parser.add_argument(
        "--fast-n", type=int, default=20000, help="circuits for the exact engine (20000)"
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts")
    parser.add_argument("--repeat", type=int, default=3, help="runs per engine and worker count")
    parser.add_argument("--seed", type=int, default=0, help="generator seed")
    args = parser.parse_args()

    t = time.perf_counter()
    rng = random.Random(args.seed)
    circuits = [sample_circuit(rng) for _ in range(max(args.n, args.fast_n))]
    gen_s = time.perf_counter() - t
    ng_circuits, fast_circuits = circuits[: args.n], circuits[: args.fast_n]
    t = time.perf_counter()
    for c in ng_circuits:
        write_spice(c)
    deck_ms = (time.perf_counter() - t) / args.n * 1e3
    t = time.perf_counter()
    version = ngspice_version()  # starts the forkserver and one worker
    start_s = time.perf_counter() - t
    fastac.verify(fast_circuits[:500], workers=1)  # imports and first-use set-up

    print(
        f"verify throughput: {version} on {args.n} random OCB circuits, the exact engine on "
        f"{args.fast_n} (seed {args.seed}; the first {min(args.n, args.fast_n)} are "
        f"ngspice's), {os.cpu_count()} CPUs, best and median of {args.repeat} runs each"
    )
    print(
        f"generating circuits: {gen_s:.2f} s; write_spice in the parent: {deck_ms:.3f} ms/circuit"
    )
    print(f"first start-up (forkserver + one worker loading libngspice): {start_s:.2f} s")
    print()
    print(
        "engine  workers  circuits/s (best, median)  wall s  ngspice ms/circuit (median, mean)"
        "  core ms/circuit  overhead ms/circuit  valid  failed"
    )
    rows = []
    for w in args.workers:
        ng_runs, fast_runs = [], []
        for _ in range(args.repeat):  # alternating: both engines see the same load
            t = time.perf_counter()
            results = verify(ng_circuits, workers=w)
            ng_runs.append((time.perf_counter() - t, results))
            t = time.perf_counter()
            fast = fastac.verify(fast_circuits, workers=w)
            fast_runs.append((time.perf_counter() - t, fast))
        ng = _rates(ng_runs, args.n)
        fa = _rates(fast_runs, args.fast_n)
        rows.append((w, ng, fa))
        wall, results = min(ng_runs, key=lambda r: r[0])
        sim_ms = np.array([r.sim_s for r in results if r.sim_s is not None]) * 1e3
        core_ms = wall * w / args.n * 1e3  # worker-seconds of wall time per circuit
        print(
            f"ngspice {w:7d}  {ng[0]:10.0f} {ng[1]:10.0f}      {wall:6.2f}  "
            f"{np.median(sim_ms):16.3f} {sim_ms.mean():8.3f}          {core_ms:11.3f}  "
            f"{core_ms - sim_ms.mean():19.3f}  {_valid(results):5d}  {_failed(results):6d}"
        )
        wall, fast = min(fast_runs, key=lambda r: r[0])
        core_ms = wall * w / args.fast_n * 1e3
        print(
            f"fast    {w:7d}  {fa[0]:10.0f} {fa[1]:10.0f}      {wall:6.2f}  "
            f"{'-':>16s} {'-':>8s}          {core_ms:11.3f}  {'-':>19s}  "
            f"{_valid(fast):5d}  {_failed(fast):6d}"
        )
    print()
    print("fast / ngspice at the same worker count (best / best, median / median):")
    for w, ng, fa in rows:
        print(f"  {w} worker{'s' if w > 1 else ' '}: {fa[0] / ng[0]:6.1f}x  {fa[1] / ng[1]:6.1f}x")
    print()
    print(
        "core ms/circuit = wall time x workers / circuits; overhead = core ms - mean ngspice ms"
        " (remcirc/destroy, measurement, pipes, start-up, parent's deck writing on shared "
        "cores). fast: one process per worker (forked), batched; same measurements and "
        "verdicts as ngspice's path."
    )


def _rates(runs: list, n: int) -> tuple[float, float]:
    rates = [n / wall for wall, _ in runs]
    return max(rates), statistics.median(rates)


def _valid(results: list) -> int:
    return sum(r.measurement.valid for r in results)


def _failed(results: list) -> int:
    return sum(r.error is not None for r in results)


if __name__ == "__main__":
    main()
