"""Training every model: one plain loop (AdamW, seeded), periodic validation and checkpoints.

benchmark → clean + tensors → model.loss → AdamW. For CktGen and the baselines, every
``eval_every`` epochs it measures reconstruction accuracy (greedy decode of μ_c equals the
test circuit, CktGen's ``is_same_DAG``), validity and the *verified* class accuracy: one
circuit generated per test joint class, simulated with ngspice, counted right when its
measured class equals the requested one. The surrogate evaluator (``model="evaluator"``)
trains in the same loop with the released recipe (``EVALUATOR_RUN``) and is validated by its
held-out report (``evaluate_evaluator``). Logs are JSON lines; checkpoints are written
atomically (last, and best by verified class accuracy). Under ``torchrun`` the same loop
trains data-parallel (distributed.py): ranks share each batch, rank 0 validates and writes.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from ..data.dataset import collate, split_datasets
from ..data.store import load_benchmark
from ..errors import CktGenError
from ..model.registry import build_model, check_overrides, make_config
from . import distributed
from .checkpoint import (
    EVALUATOR_FORMAT,
    about,
    load_model,
    load_weights,
    read_checkpoint,
    read_state,
    save_checkpoint,
)
from .validation import evaluate, evaluate_evaluator

# The evaluator's run (docs/benchmark.md §5.2, the released code): 100 epochs of batch 32 at
# lr 1e-4 without weight decay; AdamW betas (0.9, 0.99), no gradient clipping, and the LR cut
# ×0.1 once the epoch loss has not improved for 10 epochs (``_optimizer``) instead of ``lr_at``.
EVALUATOR_RUN = dict(epochs=100, batch_size=32, lr=1e-4, weight_decay=0.0)


@dataclass(frozen=True)
class TrainConfig:
    """Run settings (the model's are its config dataclass: ``model`` and ``preset``)."""

    dataset: str = "ocb101"
    model: str = "cktgen"  # cktgen, pace, cktgnn, cvaegan, ldt, evaluator (model/registry.py)
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

    @classmethod
    def for_model(cls, model: str, **fields: Any) -> TrainConfig:
        """The run defaults of ``model`` (the evaluator's ``EVALUATOR_RUN``), then ``fields``."""
        return cls(model=model, **{**(EVALUATOR_RUN if model == "evaluator" else {}), **fields})


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
    that fails before its first logged epoch removes the folders it created. Started by
    ``torchrun`` (``WORLD_SIZE`` > 1), it trains data-parallel with ``batch_size`` per rank;
    only rank 0 writes (docs/scaling.md, "Distributed training").
    """
    out = Path(out_dir)
    created = [p for p in (out, *out.parents) if not p.exists()]  # innermost first
    with distributed.session(cfg.device) as par:
        try:
            return _train(cfg, out, resume, progress and par.main, overrides or {}, par)
        except BaseException:
            if par.main:
                _remove_unstarted(out, created)
            raise


def _train(
    cfg: TrainConfig,
    out: Path,
    resume: bool,
    progress: bool,
    overrides: dict[str, Any],
    par: distributed.Parallel,
) -> Path:
    torch.set_num_threads(par.threads(cfg.threads))
    evaluator = cfg.model == "evaluator"
    # the seed fixes the initial weights (the evaluator's released recipe seeds only these)
    torch.manual_seed(cfg.seed)
    bench = load_benchmark(cfg.dataset)
    train_ds, test_ds, cleaned = split_datasets(bench, drop_invalid=cfg.drop_invalid)
    dev = par.device(cfg.device)
    model, info_init = _new_model(cfg, cleaned.scheme, overrides)
    if cfg.model == "ldt":
        model.prepare(train_ds)  # latent statistics of the frozen VAE
    model.to(dev)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt, plateau = _optimizer(cfg, trainable)
    start, best, spent = 0, -1.0, 0.0
    if par.agree(resume and (out / "last.pt").exists()):  # rank 0 decides; every rank loads
        start, best, spent = _resume(out / "last.pt", model, opt)
    loss_of = par.wrap(model)  # model.loss, or under torchrun its DDP wrapper
    info_base = {
        "train_config": asdict(cfg),
        "dataset": bench.manifest,
        "cleaning": cleaned.counts,
        **info_init,
    }
    if par.main:
        _start_folder(out, cfg, model, par.world)
        print(
            f"training {cfg.dataset}: {len(train_ds)} train / {len(test_ds)} test circuits, "
            f"{sum(p.numel() for p in trainable):,} trainable parameters, {cfg.model} preset "
            f"{cfg.preset}, {cfg.device}"
            + (f", {par.world} processes × batch {cfg.batch_size}" if par.world > 1 else ""),
            file=sys.stderr,
        )
    log = (out / "log.jsonl").open("a") if par.main else None
    gen = torch.Generator().manual_seed(cfg.seed + start)  # the same shuffle on every rank
    if not evaluator:
        torch.manual_seed(cfg.seed + start)
    par.seed(cfg.seed + start)
    global_batch = cfg.batch_size * par.world
    steps = -(-len(train_ds) // global_batch)
    step_s = 0.0  # under torchrun: the last epoch's seconds per step, equal on every rank
    epoch = start
    while epoch < cfg.epochs and not (cfg.minutes and spent >= 60 * cfg.minutes):
        model.train()
        t0 = time.perf_counter()
        order = torch.randperm(len(train_ds), generator=gen).tolist()
        batches = [order[i : i + global_batch] for i in range(0, len(order), global_batch)]
        sums: dict[str, float] = {}
        bar = _bar(len(batches), f"epoch {epoch + 1}/{cfg.epochs}", progress)
        for k, idx in enumerate(batches):
            if plateau is None:  # warm-up and cosine (lr_at), clipped gradients
                frac = (epoch * steps + k) / (cfg.epochs * steps)
                if cfg.minutes:  # whichever budget runs out first drives the schedule
                    now = time.perf_counter() - t0 if par.world == 1 else k * step_s
                    frac = max(frac, (spent + now) / (60 * cfg.minutes))
                for group in opt.param_groups:
                    group["lr"] = lr_at(frac, cfg.lr)
            idx, weight = par.shard(idx)
            loss, terms = loss_of(collate(train_ds.__getitems__(idx)).to(dev))
            if weight != 1.0:  # an uneven last batch under torchrun
                loss = loss * weight
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if plateau is None:
                torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            opt.step()
            for key, v in terms.items():  # weight / world is 1 in one process
                sums[key] = sums.get(key, 0.0) + v * (weight / par.world)
            if bar is not None:
                bar.update(1)
                shown = [key for key in ("loss", "recon", "nce", "fom") if key in terms]
                bar.set_postfix({key: f"{terms[key]:.3g}" for key in shown})
        if bar is not None:
            bar.close()
        sums, seconds, ranks = par.epoch_end(sums, time.perf_counter() - t0, model)
        if plateau is not None:
            plateau.step(sums["loss"])
        epoch += 1
        spent += seconds
        step_s = seconds / len(batches)
        row = {
            "epoch": epoch,
            "seconds": round(seconds, 2),
            "lr": opt.param_groups[0]["lr"],
            **{k: v / len(batches) for k, v in sums.items()},
            **ranks,
        }
        last = epoch == cfg.epochs or (cfg.minutes and spent >= 60 * cfg.minutes)
        if not par.main:  # rank 0 validates and writes meanwhile
            par.barrier()
            continue
        info = {**info_base, "epoch": epoch, "train_seconds": spent, "best": best}
        if cfg.eval_every and (epoch % cfg.eval_every == 0 or last):
            row.update(_validate(model, test_ds, cfg, dev))
            score = row.get("verified_class_acc")  # None for the evaluator: no best.pt
            if score is not None:
                row["best"] = best = max(best, score)
            info.update(metrics=row, best=best)
            if score is not None and score >= best:
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
        assert log is not None  # rank 0 opened it
        log.write(json.dumps(row) + "\n")
        log.flush()
        par.barrier()
    return out / ("best.pt" if cfg.eval_every and not evaluator else "last.pt")


def _optimizer(cfg: TrainConfig, params: list[torch.nn.Parameter]):
    """AdamW and, for the evaluator, its plateau schedule (``EVALUATOR_RUN``); else None."""
    if cfg.model != "evaluator":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay), None
    opt = torch.optim.AdamW(params, lr=cfg.lr, betas=(0.9, 0.99), weight_decay=cfg.weight_decay)
    return opt, torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.1, patience=10)


def _validate(model, test_ds, cfg: TrainConfig, dev: torch.device) -> dict[str, float]:
    """Held-out metrics: the evaluator's report, or a generative model's ``evaluate``."""
    if cfg.model == "evaluator":
        return evaluate_evaluator(model, test_ds) if len(test_ds) else {"n": 0}
    metrics = evaluate(model.to("cpu"), test_ds, seed=cfg.seed)
    model.to(dev)
    return metrics


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
    if cfg.model == "evaluator":
        raise CktGenError("the evaluator trains from scratch: init is for the generative models")
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
    """Load weights and optimizer state of ``path``; its epoch, best score, seconds spent.

    An evaluator's plateau schedule restarts (its LR is in the optimizer state).
    """
    if model.kind == "evaluator":
        state = read_state(path, EVALUATOR_FORMAT, "evaluator")
    else:
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


def _start_folder(out: Path, cfg: TrainConfig, model, world: int) -> None:
    """Create the run folder and write ``config.json`` (with the world size under torchrun)."""
    _make_folder(out)
    config = {"train": asdict(cfg), "model": model.config.to_dict()}
    if world > 1:
        config["world_size"] = world
    (out / "config.json").write_text(json.dumps(config, indent=2))


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
