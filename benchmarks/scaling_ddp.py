"""Seconds per training step: WORLD data-parallel processes (gloo) against one process.

Both sides train the same global batch (``batch_size`` rows per process × ``world``) through
the library's own code path (training/distributed.py: shards, DDP wrapper, per-node thread
split): forward, backward, gradient clipping and AdamW, timed per step after ``warmup``
steps. The one process gets all ``threads``; each of the ``world`` processes gets
``threads // world`` (what ``cktgen-eda train`` does under torchrun), so the comparison is on
the same cores; one process with ``threads // world`` threads is timed too, to tell the
gain of more processes from the cost of more threads per process. docs/scaling.md
("Distributed training") records the figures of the 2-core CPU.

    python benchmarks/scaling_ddp.py --preset cpu --batch-size 64 --world 2
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import time

import torch
import torch.multiprocessing as mp

from cktgen_eda.data.dataset import collate, split_datasets
from cktgen_eda.data.store import load_benchmark
from cktgen_eda.model.registry import build_model, make_config
from cktgen_eda.training import distributed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, run: dict, results) -> None:
    """One process of a timed run; rank 0 puts its step times on ``results``."""
    os.environ.update(
        WORLD_SIZE=str(world),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        LOCAL_WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    with distributed.session("cpu") as par:
        torch.set_num_threads(par.threads(run["threads"]))
        train_ds, _, cleaned = split_datasets(load_benchmark(run["dataset"]))
        torch.manual_seed(0)
        kind = run["model"]
        model = build_model(kind, make_config(kind, run["preset"]), cleaned.scheme).train()
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=1e-4)
        loss_of = par.wrap(model)
        order = torch.randperm(len(train_ds), generator=torch.Generator().manual_seed(0))
        size = run["batch_size"] * world
        times = []
        for k in range(run["warmup"] + run["steps"]):
            at = (k * size) % max(1, len(train_ds) - size)
            idx, weight = par.shard(order[at : at + size].tolist())
            t0 = time.perf_counter()
            loss, _ = loss_of(collate(train_ds.__getitems__(idx)))
            opt.zero_grad(set_to_none=True)
            (loss * weight if weight != 1.0 else loss).backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            times.append(time.perf_counter() - t0)
        if par.main:
            results.put(times[run["warmup"] :])


def _timed(world: int, run: dict) -> list[float]:
    ctx = mp.get_context("spawn")
    results = ctx.SimpleQueue()
    mp.spawn(_worker, args=(world, _free_port(), run, results), nprocs=world, join=True)
    return results.get()


def ddp_step_times(
    dataset: str = "ocb101",
    model: str = "cktgen",
    preset: str = "cpu",
    batch_size: int = 64,
    world: int = 2,
    threads: int = 2,
    steps: int = 10,
    warmup: int = 2,
) -> dict:
    """Median seconds per step of ``world`` gloo processes and of one process, same batch.

    Args:
        batch_size: rows per process; one process trains ``batch_size * world`` rows a step.
        threads: CPU threads of the machine, split among the processes.

    Returns:
        The run settings; median seconds per step ``single_s`` (one process, ``threads``),
        ``single_few_s`` (one process, ``threads // world``) and ``ddp_s``, each with its
        ``_all`` list; ``speedup`` (single_s / ddp_s) and rows per second.
    """
    run = dict(
        dataset=dataset,
        model=model,
        preset=preset,
        batch_size=batch_size,
        threads=threads,
        steps=steps,
        warmup=warmup,
    )
    few = max(1, threads // world)
    single = _timed(1, {**run, "batch_size": batch_size * world})
    single_few = _timed(1, {**run, "batch_size": batch_size * world, "threads": few})
    ddp = _timed(world, run)
    s, d = statistics.median(single), statistics.median(ddp)
    rows = batch_size * world
    return {
        **run,
        "world": world,
        "global_batch": rows,
        "threads_per_process": few,
        "single_s": round(s, 4),
        "single_few_s": round(statistics.median(single_few), 4),
        "ddp_s": round(d, 4),
        "speedup": round(s / d, 3),
        "single_rows_per_s": round(rows / s, 1),
        "ddp_rows_per_s": round(rows / d, 1),
        "single_s_all": [round(x, 4) for x in single],
        "single_few_s_all": [round(x, 4) for x in single_few],
        "ddp_s_all": [round(x, 4) for x in ddp],
    }


def main(argv: list[str] | None = None) -> None:
    """Print DDP vs one-process step times (a table line, or ``--json``)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="ocb101")
    ap.add_argument("--model", default="cktgen")
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--batch-size", type=int, default=64, help="rows per process")
    ap.add_argument("--world", type=int, default=2, help="data-parallel processes")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads of the machine")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    r = ddp_step_times(a.dataset, a.model, a.preset, a.batch_size, a.world, a.threads, a.steps)
    if a.json:
        print(json.dumps(r, indent=2))
        return
    print(
        f"{r['model']} {r['preset']} on {r['dataset']}, global batch {r['global_batch']}: "
        f"1 process × {r['threads']} threads {r['single_s']:.3f} s/step "
        f"(× {r['threads_per_process']}: {r['single_few_s']:.3f}), "
        f"{r['world']} gloo processes × {r['threads_per_process']} threads "
        f"{r['ddp_s']:.3f} s/step (speedup {r['speedup']:.2f}×)"
    )


if __name__ == "__main__":
    main()
