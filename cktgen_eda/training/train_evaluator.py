"""Training the surrogate evaluator: a plain loop (docs/benchmark.md §5.2), then a held-out report.

benchmark → clean (invalid rows dropped) + tensors → ``Evaluator.loss`` → AdamW (lr 1e-4,
betas (0.9, 0.99), no weight decay), ReduceLROnPlateau (×0.1, patience 10) on the summed
epoch loss. The log is JSON lines beside the checkpoint; the checkpoint is written
atomically every 10 epochs and at the end, the last one with the test-split report.

Example::

    python -m cktgen_eda.training.train_evaluator --dataset ocb101 --out ocb101.pt --epochs 100
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ..data.dataset import CircuitDataset, collate, split_datasets
from ..data.store import load_benchmark
from ..errors import CktGenError
from ..model.evaluator import Evaluator, save_evaluator

SAVE_EVERY = 10  # epochs between intermediate checkpoints


@torch.no_grad()
def evaluate_evaluator(
    ev: Evaluator, ds: CircuitDataset, batch_size: int = 1024
) -> dict[str, float]:
    """Held-out report: per-head and joint class accuracy, FoM MAE and RMSE (CSV units).

    ``fom_rmse_over_std`` is the RMSE divided by the train FoM std (1 = predicting the mean).
    """
    was_training = ev.training
    ev.eval()
    device = next(ev.parameters()).device
    hits, fom_err, n = np.zeros(4), [], len(ds)
    for start in range(0, n, batch_size):
        b = collate(ds.__getitems__(range(start, min(n, start + batch_size)))).to(device)
        pred = ev.predict(b)
        right = torch.stack(
            [pred[k] == t for k, t in (("gain", b.gain), ("bw", b.bw), ("pm", b.pm))]
        )
        hits += [*right.sum(1).tolist(), int(right.all(0).sum())]
        fom_err.append((pred["fom"] - b.fom).cpu().numpy())
    ev.train(was_training)
    if n == 0:
        raise CktGenError("cannot evaluate the evaluator on an empty dataset")
    err = np.concatenate(fom_err).astype(np.float64)
    rmse = float(np.sqrt((err**2).mean()))
    acc = hits / n
    return {
        "n": n,
        "gain_acc": float(acc[0]),
        "bw_acc": float(acc[1]),
        "pm_acc": float(acc[2]),
        "joint_acc": float(acc[3]),
        "fom_mae": float(np.abs(err).mean()),
        "fom_rmse": rmse,
        "fom_rmse_over_std": rmse / ev.scheme.fom_std,
    }


def train_evaluator(
    dataset: str = "ocb101",
    out: str | Path = "evaluator.pt",
    epochs: int = 100,
    batch_size: int = 32,
    lr: float = 1e-4,
    device: str = "cpu",
    minutes: float = 0.0,
    seed: int = 0,
    preset: str = "cpu",
    progress: bool = True,
    threads: int = 2,
) -> Path:
    """Train an evaluator on ``dataset`` (shipped name or ``.npz`` path); return ``out``.

    Args:
        minutes: > 0 stops after the first epoch that ends past this wall time.
        preset: ``EvaluatorConfig`` preset (``cpu``, ``paper``, ``tiny``).
        progress: show a tqdm bar per epoch on stderr.
        threads: torch CPU threads.
    """
    from ..model.evaluator import preset as get_preset

    run = dict(
        dataset=dataset, epochs=epochs, batch_size=batch_size, lr=lr, device=device,
        minutes=minutes, seed=seed, preset=preset, threads=threads,
    )  # fmt: skip
    out = Path(out)
    if not out.parent.is_dir():
        raise CktGenError(f"{out}: folder {out.parent} does not exist")
    config = get_preset(preset)
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    bench = load_benchmark(dataset)
    train_ds, test_ds, cleaned = split_datasets(bench, drop_invalid=True)
    dev = torch.device(device)
    ev = Evaluator(config, cleaned.scheme).to(dev)
    opt = torch.optim.AdamW(ev.parameters(), lr=lr, betas=(0.9, 0.99), weight_decay=0.0)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.1, patience=10)
    n_params = sum(p.numel() for p in ev.parameters())
    info = {
        "train_config": run,
        "dataset": bench.manifest,
        "cleaning": cleaned.counts,
        "parameters": n_params,
    }
    print(
        f"training evaluator on {dataset}: {len(train_ds)} train / {len(test_ds)} test circuits, "
        f"{n_params:,} parameters, preset {preset}, {device}",
        file=sys.stderr,
    )
    log = out.with_suffix(".log.jsonl").open("w")
    log.write(json.dumps({"train": run, "model": asdict(ev.config)}) + "\n")
    gen = torch.Generator().manual_seed(seed)
    epoch, spent = 0, 0.0
    while epoch < epochs and not (minutes and spent >= 60 * minutes):
        ev.train()
        t0 = time.perf_counter()
        order = torch.randperm(len(train_ds), generator=gen).tolist()
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        sums: dict[str, float] = {}
        bar = _bar(len(batches), f"epoch {epoch + 1}/{epochs}", progress)
        for idx in batches:
            loss, terms = ev.loss(collate(train_ds.__getitems__(idx)).to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v
            if bar is not None:
                bar.update(1)
                bar.set_postfix({k: f"{terms[k]:.3g}" for k in ("loss", "nce", "fom")})
        if bar is not None:
            bar.close()
        sched.step(sums["loss"])
        epoch += 1
        seconds = time.perf_counter() - t0
        spent += seconds
        row = {"epoch": epoch, "seconds": round(seconds, 2), "lr": opt.param_groups[0]["lr"]}
        row.update({k: v / len(batches) for k, v in sums.items()})
        log.write(json.dumps(row) + "\n")
        log.flush()
        if epoch % SAVE_EVERY == 0:
            save_evaluator(out, ev, {**info, "epochs": epoch, "train_seconds": spent})
    held_out = evaluate_evaluator(ev, test_ds) if len(test_ds) else {"n": 0}
    report = {**held_out, "epochs": epoch, "train_seconds": spent}
    log.write(json.dumps({"test": report}) + "\n")
    log.close()
    print(json.dumps({k: round(v, 4) for k, v in report.items()}), file=sys.stderr)
    return save_evaluator(
        out, ev, {**info, "epochs": epoch, "train_seconds": spent, "report": report}
    )


def _bar(total: int, desc: str, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="batch", file=sys.stderr, leave=False)


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m cktgen_eda.training.train_evaluator --help``."""
    p = argparse.ArgumentParser(description="Train the surrogate evaluator (spec predictor).")
    p.add_argument("--dataset", default="ocb101", help="shipped benchmark name or .npz path")
    p.add_argument("--out", required=True, help="checkpoint to write (.pt)")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--device", default="cpu")
    p.add_argument("--minutes", type=float, default=0.0, help="wall-time budget (0: none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--preset", default="cpu", help="cpu, paper or tiny")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    try:
        train_evaluator(
            a.dataset, a.out, a.epochs, a.batch_size, a.lr, a.device, a.minutes, a.seed,
            a.preset, not a.no_progress, a.threads,
        )  # fmt: skip
    except CktGenError as exc:
        sys.exit(f"Error: {exc}")


if __name__ == "__main__":
    main()
