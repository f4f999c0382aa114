"""Training CktGen: one plain loop (AdamW, seeded), periodic validation and checkpoints.

benchmark → clean + tensors → CktGen.loss → AdamW. Every ``eval_every`` epochs it measures
reconstruction accuracy (greedy decode of μ_c equals the test circuit, CktGen's
``is_same_DAG``), validity and the *verified* class accuracy: one circuit generated per test
joint class, simulated with ngspice, counted right when its measured class equals the
requested one. Logs are JSON lines; checkpoints are written atomically (last and best).
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.dataset import collate, joint_key, split_datasets, split_key
from ..data.store import load_benchmark
from ..data.validity import same_dag
from ..errors import CktGenError
from ..model.registry import build_model, check_overrides, make_config
from .checkpoint import about, load_model, load_weights, read_checkpoint, save_checkpoint


@dataclass(frozen=True)
class TrainConfig:
    """Run settings (the model's are in ``CktGenConfig``)."""

    dataset: str = "ocb101"
    model: str = "cktgen"  # kind: cktgen, pace, cktgnn, cvaegan, ldt (model/registry.py)
    preset: str = "cpu"
    epochs: int = 128
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.01
    seed: int = 0
    eval_every: int = 10  # 0: never validate (e.g. on a machine without ngspice)
    threads: int = 2
    minutes: float = 0.0  # > 0: stop after this wall time; the LR schedule follows it
    device: str = "cpu"
    init: str = ""  # start from this checkpoint's weights (fine-tuning); for ldt: the VAE
    drop_invalid: bool = True  # train on measured circuits only (see docs/training.md)


def lr_at(progress: float, peak: float) -> float:
    """Learning rate at ``progress`` ∈ [0, 1]: 5 % linear warm-up, cosine down to 5 %."""
    if progress < 0.05:
        return peak * max(progress, 0.002) / 0.05
    x = min(1.0, (progress - 0.05) / 0.95)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * x)))


def train(
    cfg: TrainConfig,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    overrides: dict[str, Any] | None = None,
) -> Path:
    """Train; return the best checkpoint (``out_dir/best.pt``, or ``last.pt`` unvalidated).

    The run folder is created once the data, model and initial weights are ready, and a run
    that fails before its first logged epoch removes the folders it created.
    """
    out = Path(out_dir)
    created = [p for p in (out, *out.parents) if not p.exists()]  # innermost first
    try:
        return _train(cfg, out, resume, progress, overrides or {})
    except BaseException:
        _remove_unstarted(out, created)
        raise


def _train(
    cfg: TrainConfig, out: Path, resume: bool, progress: bool, overrides: dict[str, Any]
) -> Path:
    torch.set_num_threads(cfg.threads)
    bench = load_benchmark(cfg.dataset)
    train_ds, test_ds, cleaned = split_datasets(bench, drop_invalid=cfg.drop_invalid)
    dev = torch.device(cfg.device)
    model, info_init = _new_model(cfg, cleaned.scheme, overrides)
    if cfg.model == "ldt":
        model.prepare(train_ds)  # latent statistics of the frozen VAE
    model.to(dev)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay)
    start, best, spent = 0, -1.0, 0.0
    if resume and (out / "last.pt").exists():
        start, best, spent = _resume(out / "last.pt", model, opt)
    info_base = {
        "train_config": asdict(cfg),
        "dataset": bench.manifest,
        "cleaning": cleaned.counts,
        **info_init,
    }
    _make_folder(out)
    (out / "config.json").write_text(
        json.dumps({"train": asdict(cfg), "model": model.config.to_dict()}, indent=2)
    )
    print(
        f"training {cfg.dataset}: {len(train_ds)} train / {len(test_ds)} test circuits, "
        f"{sum(p.numel() for p in trainable):,} trainable parameters, {cfg.model} preset "
        f"{cfg.preset}, {cfg.device}",
        file=sys.stderr,
    )
    log = (out / "log.jsonl").open("a")
    gen = torch.Generator().manual_seed(cfg.seed + start)
    torch.manual_seed(cfg.seed + start)
    steps = -(-len(train_ds) // cfg.batch_size)
    epoch = start
    while epoch < cfg.epochs and not (cfg.minutes and spent >= 60 * cfg.minutes):
        model.train()
        t0 = time.perf_counter()
        order = torch.randperm(len(train_ds), generator=gen).tolist()
        batches = [order[i : i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
        sums: dict[str, float] = {}
        bar = _bar(len(batches), f"epoch {epoch + 1}/{cfg.epochs}", progress)
        for k, idx in enumerate(batches):
            frac = (epoch * steps + k) / (cfg.epochs * steps)
            if cfg.minutes:  # whichever budget runs out first drives the schedule
                frac = max(frac, (spent + time.perf_counter() - t0) / (60 * cfg.minutes))
            for group in opt.param_groups:
                group["lr"] = lr_at(frac, cfg.lr)
            loss, terms = model.loss(collate(train_ds.__getitems__(idx)).to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            opt.step()
            for key, v in terms.items():
                sums[key] = sums.get(key, 0.0) + v
            if bar is not None:
                bar.update(1)
                bar.set_postfix({key: f"{terms[key]:.3g}" for key in ("loss", "recon", "nce")})
        if bar is not None:
            bar.close()
        epoch += 1
        seconds = time.perf_counter() - t0
        spent += seconds
        row = {
            "epoch": epoch,
            "seconds": round(seconds, 2),
            "lr": opt.param_groups[0]["lr"],
            **{k: v / len(batches) for k, v in sums.items()},
        }
        last = epoch == cfg.epochs or (cfg.minutes and spent >= 60 * cfg.minutes)
        info = {**info_base, "epoch": epoch, "train_seconds": spent, "best": best}
        if cfg.eval_every and (epoch % cfg.eval_every == 0 or last):
            row.update(evaluate(model.to("cpu"), test_ds, seed=cfg.seed))
            model.to(dev)
            score = row["verified_class_acc"]
            row["best"] = best = max(best, score)
            info.update(metrics=row, best=best)
            if score >= best:
                save_checkpoint(out / "best.pt", model, info)
            save_checkpoint(out / "last.pt", model, info, opt)
            print(
                json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}),
                file=sys.stderr,
            )
        elif not cfg.eval_every and (epoch % 25 == 0 or last):
            info.update(metrics=row)
            save_checkpoint(out / "last.pt", model, info, opt)
            print(
                json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}),
                file=sys.stderr,
                flush=True,
            )
        log.write(json.dumps(row) + "\n")
        log.flush()
    return out / ("best.pt" if cfg.eval_every else "last.pt")


def _new_model(cfg: TrainConfig, scheme, overrides: dict[str, Any]):
    """The model to train and provenance of its initial weights."""
    if cfg.model == "ldt":
        from ..model.baselines.ldt import LDT

        if not cfg.init:
            raise CktGenError("ldt trains on a frozen VAE: give its checkpoint as init")
        check_overrides("ldt", overrides)
        _init_kind(cfg.init, "cktgen")
        load_model(cfg.init, with_encoder=True)  # checks the VAE before LDT loads it
        model = LDT.from_vae(cfg.init, scheme, **overrides)
        return model, {"vae": cfg.init}
    model = build_model(cfg.model, make_config(cfg.model, cfg.preset, **overrides), scheme)
    if not cfg.init:
        return model, {}
    state = _init_kind(cfg.init, cfg.model)
    with about(cfg.init):
        load_weights(model, state["model"])
    return model, {"init": cfg.init, "init_epochs": state["info"].get("epoch")}


def _init_kind(path: str, kind: str) -> dict[str, Any]:
    """The checked checkpoint at ``path``, which must hold a ``kind`` model."""
    state = read_checkpoint(path)
    found = state.get("kind", "cktgen")
    if found != kind:
        raise CktGenError(f"{path}: a {found} checkpoint cannot initialise a {kind} model")
    return state


def _resume(path: Path, model, opt) -> tuple[int, float, float]:
    """Load weights and optimizer state of ``path``; its epoch, best score, seconds spent."""
    state = read_checkpoint(path)
    info = state["info"]
    with about(path):
        load_weights(model, state["model"])
        if not isinstance(state.get("optimizer"), dict):
            raise CktGenError("no optimizer state to resume from")
        try:
            opt.load_state_dict(state["optimizer"])
        except (ValueError, KeyError, TypeError, IndexError, RuntimeError) as exc:
            raise CktGenError(f"optimizer state does not fit the model ({exc})") from None
        numbers = [info.get("epoch"), info.get("best", -1.0), info.get("train_seconds", 0.0)]
        if not isinstance(numbers[0], int) or not all(isinstance(x, (int, float)) for x in numbers):
            raise CktGenError("info lacks the epoch, best score or seconds spent")
    return numbers[0], float(numbers[1]), float(numbers[2])


def _make_folder(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CktGenError(f"cannot create {out}: {exc.strerror or exc}") from None


def _remove_unstarted(out: Path, created: list[Path]) -> None:
    """After a failure before the first logged epoch: remove our ``config.json`` and empty
    log, then the folders in ``created`` that are empty (innermost first)."""
    log = out / "log.jsonl"
    if not created or (log.exists() and log.stat().st_size):
        return
    for name in ("config.json", "log.jsonl"):
        (out / name).unlink(missing_ok=True)
    for folder in created:
        try:
            folder.rmdir()
        except OSError:
            return  # never created, or something else lives there


def _bar(total: int, desc: str, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="batch", file=sys.stderr, leave=False)


def test_classes(test_ds) -> list[tuple[int, int, int]]:
    """Distinct joint classes of a dataset, sorted."""
    b = test_ds.all()
    keys = sorted(set(joint_key(b.gain, b.bw, b.pm).tolist()))
    return [split_key(k) for k in keys]


@torch.no_grad()
def evaluate(
    model, test_ds, rounds: int = 1, seed: int = 0, workers: int | None = None
) -> dict[str, float]:
    """Reconstruction accuracy, validity and verified class accuracy on the test split."""
    from ..netlist.ngspice import verify

    model.eval()
    b = test_ds.all()
    rec = model.reconstruct(b)
    hits = 0
    for i, d in enumerate(rec):
        n = int(b.n_nodes[i])
        truth = (b.types[i, :n].tolist(), b.adj[i, :n, :n].nonzero().tolist())
        hits += same_dag(truth, (list(d.types), list(d.edges)))
    classes = test_classes(test_ds) * rounds
    g = torch.Generator().manual_seed(seed)
    decoded = model.generate(torch.tensor(classes), g)
    circuits, valid = [], 0
    for d in decoded:
        try:
            circuits.append(d.to_circuit())
            valid += 1
        except CktGenError:
            circuits.append(None)
    simulate = [c for c in circuits if c is not None]
    results = iter(verify(simulate, workers=workers))
    right = np.zeros(3)
    joint = 0
    for want, c in zip(classes, circuits):
        m = next(results).measurement if c is not None else None
        got = m.spec_class if m is not None and m.valid else None
        if got is not None:
            same = [int(a == w) for a, w in zip(got, want)]
            right += same
            joint += all(same)
    n = len(classes)
    return {
        "recon_acc": hits / len(rec),
        "validity": valid / n,
        "verified_class_acc": joint / n,
        "verified_gain_acc": float(right[0] / n),
        "verified_bw_acc": float(right[1] / n),
        "verified_pm_acc": float(right[2] / n),
    }
