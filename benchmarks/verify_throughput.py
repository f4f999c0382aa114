"""Throughput of ``cktgen_eda.netlist.ngspice.verify`` on random OCB circuits.

Prints circuits/s end to end (deck writing in the parent, ngspice + measurement in the
workers) for each worker count, the time spent inside libngspice per circuit (load + run +
fetch, measured in the worker) and the overhead around it. Figures only, no assertions.

Usage: python benchmarks/verify_throughput.py [--n 1000] [--workers 1 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time

import numpy as np

from cktgen_eda.data.generator import sample_circuit
from cktgen_eda.netlist.ngspice import ngspice_version, verify
from cktgen_eda.netlist.spice import write_spice


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="random circuits (default 1000)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts")
    parser.add_argument("--repeat", type=int, default=3, help="runs per worker count")
    parser.add_argument("--seed", type=int, default=0, help="generator seed")
    args = parser.parse_args()

    t = time.perf_counter()
    rng = random.Random(args.seed)
    circuits = [sample_circuit(rng) for _ in range(args.n)]
    gen_s = time.perf_counter() - t
    t = time.perf_counter()
    for c in circuits:
        write_spice(c)
    deck_ms = (time.perf_counter() - t) / args.n * 1e3
    t = time.perf_counter()
    version = ngspice_version()  # starts the forkserver and one worker
    start_s = time.perf_counter() - t

    print(
        f"verify throughput: {args.n} random OCB circuits (seed {args.seed}), {version}, "
        f"{os.cpu_count()} CPUs, best and median of {args.repeat} runs"
    )
    print(
        f"generating circuits: {gen_s:.2f} s; write_spice in the parent: {deck_ms:.3f} ms/circuit"
    )
    print(f"first start-up (forkserver + one worker loading libngspice): {start_s:.2f} s")
    print()
    print(
        "workers  circuits/s (best, median)  wall s  ngspice ms/circuit (median, mean)  "
        "core ms/circuit  overhead ms/circuit  valid  failed"
    )
    for w in args.workers:
        runs = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            results = verify(circuits, workers=w)
            runs.append((time.perf_counter() - t, results))
        wall, results = min(runs, key=lambda r: r[0])
        rates = [args.n / r[0] for r in runs]
        sim_ms = np.array([r.sim_s for r in results if r.sim_s is not None]) * 1e3
        core_ms = wall * w / args.n * 1e3  # worker-seconds of wall time per circuit
        valid = sum(r.measurement.valid for r in results)
        failed = sum(r.error is not None for r in results)
        print(
            f"{w:7d}  {max(rates):10.0f} {statistics.median(rates):10.0f}      {wall:6.2f}  "
            f"{np.median(sim_ms):16.3f} {sim_ms.mean():8.3f}          {core_ms:11.3f}  "
            f"{core_ms - sim_ms.mean():19.3f}  {valid:5d}  {failed:6d}"
        )
    from cktgen_eda.netlist.fastac import verify as fast_verify

    fast = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        fast_verify(circuits)
        fast.append(args.n / (time.perf_counter() - t))
    print(
        f"   fast  {max(fast):10.0f} {statistics.median(fast):10.0f}      (exact engine, one "
        "process, batched; same measurements and verdicts)"
    )
    print()
    print(
        "core ms/circuit = wall time x workers / circuits; overhead = core ms - mean ngspice ms"
        " (remcirc/destroy, measurement, pipes, start-up, parent's deck writing on shared "
        "cores)."
    )


if __name__ == "__main__":
    main()
