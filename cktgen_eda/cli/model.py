"""``cktgen-eda generate``, ``train`` and ``models``: the CktGen model from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import CktGenError
from . import cli
from .options import (
    ExporterChoice,
    allow_unstable_option,
    engine_option,
    force_option,
    model_option,
    objective_option,
    out_dir_option,
    spec_option_value,
    temperature_option,
    workers_option,
)


def _parse_class(text: str | None) -> tuple[int, int, int] | None:
    if text is None:
        return None
    try:
        g, b, p = (int(x) for x in text.split(","))
    except ValueError:
        raise click.BadParameter(f"expected G,B,P integers, found {text!r}") from None
    return g, b, p


@cli.command("generate")
@click.option(
    "--spec", "spec_text", metavar="TEXT", help='Target, e.g. "gain>=80dB,ugf>=1GHz,pm>=45deg".'
)
@click.option(
    "--spec-class",
    "spec_class",
    metavar="G,B,P",
    help="Address one joint class (gain, bw, pm) instead of a spec, e.g. 2,3,1: gain "
    "80.5…180.5 dB, UGF 3…4 GHz, PM 0…90° (docs/spec.md).",
)
@click.option(
    "-n",
    "count",
    type=click.IntRange(1, 4096),
    default=16,
    show_default=True,
    help="Candidates to generate.",
)
@model_option
@click.option("--seed", type=int, default=0, show_default=True, help="Sampling seed.")
@click.option("--verify", is_flag=True, help="Simulate every candidate (with --engine) and rank.")
@engine_option("The simulator of --verify")
@allow_unstable_option
@click.option(
    "--rerank",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Decode K circuits per candidate; keep the one the model's guidance "
    "heads rate most likely in the requested class.",
)
@click.option(
    "--refine",
    is_flag=True,
    help="Size each decoded topology into the spec (or, with --spec-class, into the class, "
    "as a stable amplifier where the training data has one there): same topology, new "
    "device values. Prints how many met the target before and after.",
)
@objective_option("power", "What --refine optimises inside the target")
@temperature_option
@out_dir_option("Write each valid candidate into this folder.")
@click.option(
    "--format",
    "fmt",
    type=ExporterChoice(),
    help="File format for --out-dir (plugins add more) [default: json].",
)
@force_option
@click.option(
    "--json", "as_json", is_flag=True, help="Print JSON: the output envelope of docs/simulation.md."
)
@workers_option
def generate(
    spec_text: str | None,
    spec_class: str | None,
    count: int,
    model_name: str | None,
    seed: int,
    verify: bool,
    simulator: str,
    allow_unstable: bool,
    rerank: int,
    refine: bool,
    objective: str,
    temperature: float | None,
    out_dir: Path | None,
    fmt: str | None,
    force: bool,
    as_json: bool,
    workers: int | None,
) -> None:
    """Generate op-amp candidates for a target spec with the pretrained CktGen model.

    The spec maps to every joint class (gain, UGF, PM bins) of the model's training set
    that can meet it; candidates are spread over those classes, classes wholly inside the
    spec first. Decodes that are not valid circuits are listed with the reason. With
    --verify each candidate is simulated with ngspice and marked PASS (a stable amplifier,
    open loop and at unity gain, meeting every constraint; PM judged on the loop margin)
    or FAIL with the reason; passes come first, then the other stable circuits, each by
    FoM. A spec no class can meet is an error naming the nearest feasible spec.

    \b
    Examples:
      cktgen-eda generate --spec "gain>=80dB,ugf>=1GHz,pm>=45deg" --verify
      cktgen-eda generate --spec "ugf=100MHz..200MHz" --refine --verify
      cktgen-eda generate --spec "gain>=100dB" -n 4 --out-dir cands/ --format spice
      cktgen-eda generate --spec-class 2,3,1 --json
    """
    from ..generation import generate as run_generate
    from ..report import generation_table

    if (spec_text is None) == (spec_class is None):
        raise click.UsageError("give either --spec or --spec-class")

    def render(result) -> None:
        if out_dir is not None:
            written = len(result.files)
            click.echo(f"wrote {written} candidates to {out_dir}", err=True)
        text = json.dumps(result.to_dict(), indent=2) if as_json else generation_table(result)
        click.echo(text)

    run_generate(
        spec_option_value(spec_text, allow_unstable),
        n=count,
        model=model_name,
        seed=seed,
        verify=verify,
        spec_class=_parse_class(spec_class),
        workers=workers,
        progress=verify and count > 20,
        rerank=rerank,
        refine=refine,
        objective=objective,
        simulator=simulator,
        out_dir=out_dir,
        fmt=fmt or "json",
        force=force,
        on_result=render,
        temperature=temperature,
    )


@cli.command("models")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def models(as_json: bool) -> None:
    """List the shipped pretrained models (the default marked) with their measured metrics.

    \b
    Example:
      cktgen-eda models --json
    """
    from ..training.checkpoint import DEFAULT_MODEL, read_checkpoint, shipped_models

    rows = {}
    for name, path in sorted(shipped_models().items()):
        state = read_checkpoint(path)
        info = state["info"]
        rows[name] = {
            "path": str(path),
            "default": name == DEFAULT_MODEL,
            "size_mb": round(path.stat().st_size / 1e6, 2),
            "dataset": info.get("dataset", {}).get("name"),
            "epoch": info.get("epoch"),
            "init": info.get("init"),
            "decode_temperature": info.get("decode_temperature", 1.0),
            "config": state["config"],
            "metrics": info.get("metrics", {}),
        }
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no shipped models")
    for name, r in rows.items():
        m = r["metrics"]
        keys = ("validity", "verified_class_acc", "spec_hit_rate", "recon_acc")
        stats = ", ".join(f"{k} {100 * m[k]:.1f} %" for k in keys if k in m)
        mark = " (default)" if r["default"] else ""
        start = f" from {Path(r['init']).stem}" if r["init"] else ""
        t = r["decode_temperature"]
        tempered = f", decode temperature {t:g}" if t != 1.0 else ""
        click.echo(
            f"{name}{mark}: trained on {r['dataset']}, {r['epoch']} epochs{start}{tempered}, "
            f"{r['size_mb']} MB — {stats}"
        )


@cli.command("train")
@click.option(
    "--dataset", default="ocb101", show_default=True, help="Shipped dataset name or benchmark .npz."
)
@click.option(
    "--model",
    "kind",
    default="cktgen",
    show_default=True,
    type=click.Choice(["cktgen", "pace", "cktgnn", "cvaegan", "ldt", "evaluator"]),
    help="Method: CktGen or one of the paper's baselines (docs/results.md), or the surrogate "
    "evaluator that scores them.",
)
@click.option(
    "--preset",
    default="cpu",
    show_default=True,
    help="Config preset: cpu, tiny; CktGen also paper, recon (circuit VAE, Table 5); the "
    "evaluator also paper.",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="FIELD=VALUE",
    help="Override a config field, e.g. --set w_kl=0 (the w/o-KL ablation). Repeatable.",
)
@click.option(
    "--init",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Start from this checkpoint; for --model ldt: the frozen VAE (a recon model).",
)
@click.option("--epochs", type=click.IntRange(1), help="[default: 128; evaluator: 100]")
@click.option(
    "--batch-size",
    type=click.IntRange(1),
    help="Per process under torchrun [default: 128; evaluator: 32].",
)
@click.option("--lr", type=float, help="Peak learning rate [default: 1e-3; evaluator: 1e-4].")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--eval-every",
    type=click.IntRange(1),
    default=10,
    show_default=True,
    help="Epochs between validations (recon and verified class accuracy; the evaluator: its "
    "held-out report).",
)
@click.option(
    "--device",
    default="cpu",
    show_default=True,
    help="Torch device, e.g. cuda; under torchrun each process takes the GPU LOCAL_RANK.",
)
@out_dir_option("Run folder.", default=Path("runs/cktgen"))
@click.option("--resume", is_flag=True, help="Continue from OUT/last.pt.")
def train(
    dataset: str,
    kind: str,
    preset: str,
    sets: tuple[str, ...],
    init: Path | None,
    epochs: int | None,
    batch_size: int | None,
    lr: float | None,
    seed: int,
    eval_every: int,
    device: str,
    out_dir: Path,
    resume: bool,
) -> None:
    """Train CktGen or a baseline on a benchmark (progress bar, JSON-lines log, checkpoints).

    Writes OUT/log.jsonl, OUT/last.pt (every validation, with the optimizer, for
    --resume) and OUT/best.pt (best verified class accuracy; not for the evaluator, whose
    last.pt holds its held-out report). docs/training.md records the measured epoch times
    and the run behind the shipped model. Started by torchrun, it trains data-parallel
    (gloo on the CPU, nccl on CUDA): each process takes --batch-size rows of every batch and
    rank 0 alone validates and writes (docs/scaling.md, "Distributed training").

    \b
    Example:
      cktgen-eda train --dataset ocb101 --epochs 128 --out-dir runs/ocb101
      cktgen-eda train --model pace --epochs 64 --out-dir runs/pace
      cktgen-eda train --preset recon --out-dir runs/vae
      cktgen-eda train --model ldt --init runs/vae/best.pt --out-dir runs/ldt
      cktgen-eda train --model evaluator --out-dir runs/evaluator
      torchrun --nproc_per_node 2 -m cktgen_eda train --batch-size 64 --out-dir runs/ddp
    """
    from ..training.train import TrainConfig
    from ..training.train import train as run_train

    if (out_dir / "last.pt").exists() and not resume:
        raise click.ClickException(
            f"{out_dir} already holds a run; use --resume or another --out-dir"
        )
    overrides = _parse_sets(sets)
    if kind == "ldt" and init is None:
        raise click.ClickException("--model ldt needs --init VAE_CHECKPOINT (a recon model)")
    given = dict(epochs=epochs, batch_size=batch_size, lr=lr)
    cfg = TrainConfig.for_model(
        kind,
        dataset=dataset,
        preset=preset,
        init=str(init or ""),
        seed=seed,
        eval_every=eval_every,
        device=device,
        **{k: v for k, v in given.items() if v is not None},
    )
    try:
        best = run_train(cfg, out_dir, resume=resume, progress=True, overrides=overrides)
    except CktGenError as exc:
        raise click.ClickException(str(exc)) from None
    from ..training.distributed import rank

    if rank() == 0:  # under torchrun the other ranks wrote nothing
        click.echo(f"{'checkpoint' if kind == 'evaluator' else 'best checkpoint'}: {best}")


def _parse_sets(sets: tuple[str, ...]) -> dict:
    """``FIELD=VALUE`` pairs → overrides; values parsed as JSON where they can be."""
    out = {}
    for item in sets:
        field, sep, value = item.partition("=")
        if not sep or not field:
            raise click.BadParameter(f"{item!r} is not FIELD=VALUE", param_hint="--set")
        try:
            out[field] = json.loads(value)
        except json.JSONDecodeError:
            out[field] = value
    return out
