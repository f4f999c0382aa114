"""Scaling: ngspice throughput of the local pool against a Dask cluster, and DDP training.

Prints one section per measurement: circuits/s of ``verify`` on N random OCB circuits with
the local worker pool (``--workers`` processes), then on a ``LocalCluster`` of as many worker
processes (``--cluster local:N``: Dask tasks of chunks of circuits, each worker running them
in its own ngspice process, docs/scaling.md), and their ratio; both see the same circuits
and must give the same measurements. Each simulation measurement is one function doing one
timed run; ``main`` runs them in turn for ``--repeat`` rounds (a shared machine's load then
hits both alike). Last, the training step time of ``--workers`` gloo DDP processes against
one process with the same global batch (``ddp_step_times``, benchmarks/scaling_ddp.py).
Figures only.

Usage: python benchmarks/scaling.py [--circuits 2000] [--workers 2] [--repeat 3] [--steps 10]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time

from scaling_ddp import ddp_step_times

from cktgen_eda.data.generator import sample_circuit
from cktgen_eda.netlist.cluster import use_cluster
from cktgen_eda.netlist.ngspice import ngspice_version, verify


def make_circuits(n: int, seed: int = 0) -> list:
    """n random circuits from the OCB generator (as benchmarks/verify_throughput.py)."""
    rng = random.Random(seed)
    return [sample_circuit(rng) for _ in range(n)]


def measure_local_pool(circuits: list, workers: int) -> dict:
    """One timed ``verify`` with the local pool (its workers start in every call)."""
    t = time.perf_counter()
    results = verify(circuits, workers=workers)
    wall = time.perf_counter() - t
    return {"rate": len(circuits) / wall, "wall_s": wall, "results": _dicts(results)}


def measure_dask_cluster(circuits: list, workers: int) -> dict:
    """One timed ``verify`` on a ``LocalCluster`` of ``workers`` processes, one thread each.

    The cluster's start and a warm-up (each worker loads libngspice once, and its ngspice
    processes then stay up, as on a long-lived cluster) are timed apart, not in the rate.
    """
    t = time.perf_counter()
    with use_cluster(f"local:{workers}") as cluster:
        cluster.client.wait_for_workers(workers)
        verify(circuits[: 8 * workers])
        start_s = time.perf_counter() - t
        t = time.perf_counter()
        results = verify(circuits)
        wall = time.perf_counter() - t
    return {
        "rate": len(circuits) / wall,
        "wall_s": wall,
        "start_s": start_s,
        "results": _dicts(results),
    }


def _dicts(results: list) -> list[dict]:
    return [r.measurement.to_dict() for r in results]


def _summary(runs: list[dict]) -> str:
    rates = [r["rate"] for r in runs]
    each = ", ".join(f"{x:.0f}" for x in rates)
    return f"best {max(rates):.0f}, median {statistics.median(rates):.0f} circuits/s ({each})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--circuits", type=int, default=2000, help="random circuits (2000)")
    parser.add_argument("--workers", type=int, default=2, help="processes of each kind (2)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of both (3)")
    parser.add_argument("--seed", type=int, default=0, help="generator seed")
    parser.add_argument("--steps", type=int, default=10, help="timed training steps (10)")
    args = parser.parse_args()

    circuits = make_circuits(args.circuits, args.seed)
    print(
        f"scaling: {ngspice_version()} on {args.circuits} random OCB circuits (seed "
        f"{args.seed}), {os.cpu_count()} CPUs; {args.repeat} rounds, each one run of every "
        "measurement in turn, so all see the same load"
    )
    local, dask = [], []
    for _ in range(args.repeat):
        local.append(measure_local_pool(circuits, args.workers))
        dask.append(measure_dask_cluster(circuits, args.workers))

    print(f"\n## local pool: {args.workers} ngspice worker processes")
    print(f"  {_summary(local)}")

    print(f"\n## Dask LocalCluster: {args.workers} worker processes x 1 thread")
    print(f"  {_summary(dask)}")
    starts = ", ".join(f"{r['start_s']:.1f}" for r in dask)
    print(f"  start-up + warm-up, not in the rates: {starts} s")

    print("\n## Dask cluster / local pool")
    ratios = [d["rate"] / x["rate"] for d, x in zip(dask, local)]
    same = all(r["results"] == local[0]["results"] for r in local + dask)
    print(
        f"  per round: {', '.join(f'{x:.2f}x' for x in ratios)}; median "
        f"{statistics.median(ratios):.2f}x; same measurements: {'yes' if same else 'NO'}"
    )

    r = ddp_step_times(world=args.workers, threads=os.cpu_count() or 2, steps=args.steps)
    print(f"\n## training: {r['world']} gloo DDP processes against one process")
    print(
        f"  CktGen {r['preset']} on {r['dataset']}, global batch {r['global_batch']}, median "
        f"of {r['steps']} steps: one process x {r['threads']} threads {r['single_s']:.3f} "
        f"s/step, x {r['threads_per_process']} thread(s) {r['single_few_s']:.3f} s/step; "
        f"{r['world']} DDP processes x {r['threads_per_process']} {r['ddp_s']:.3f} s/step "
        f"(one process / DDP: {r['speedup']:.2f}x)"
    )


if __name__ == "__main__":
    main()
