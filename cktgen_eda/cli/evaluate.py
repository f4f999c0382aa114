"""``cktgen-eda evaluate``: the paper's evaluation protocols, judged by ngspice.

Parses and renders only: ``evaluation.run_task`` runs cond-gen, recon and uncond,
``evaluation.auto_design`` the auto-design protocol.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from . import cli
from .options import (
    TEMPERATURE_RANGE,
    cluster_option,
    force_option,
    model_option,
    workers_option,
)


@cli.command("evaluate")
@click.option(
    "--task",
    type=click.Choice(["cond-gen", "recon", "uncond", "auto-design"]),
    default="cond-gen",
    show_default=True,
    help="Protocol to run (see below).",
)
@click.option("--dataset", default="ocb101", show_default=True)
@model_option
@click.option(
    "--evaluator",
    "evaluator_name",
    help="Surrogate evaluator for cond-gen: shipped name or path [default: the dataset's].",
)
@click.option(
    "--rounds", type=click.IntRange(1), default=120, show_default=True, help="cond-gen rounds."
)
@click.option(
    "--samples",
    type=click.IntRange(1),
    default=1000,
    show_default=True,
    help="uncond: prior latents (each decoded 10 times).",
)
@click.option("--no-verify", is_flag=True, help="cond-gen: skip the ngspice judge.")
@click.option(
    "--refine",
    is_flag=True,
    help="cond-gen: size every decoded circuit into its requested class before scoring (a "
    "product row, not the paper's protocol).",
)
@click.option(
    "--temperature",
    type=TEMPERATURE_RANGE,
    default=1.0,
    show_default=True,
    help="cond-gen: the decoder's sampling temperature (1 is the paper's protocol, whatever "
    "the model's own default for generate).",
)
@workers_option
@cluster_option
@click.option(
    "--targets",
    "n_classes",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="auto-design: targets in total, sampled joint classes (0: every joint class, plus "
    "50 random targets unless --random says otherwise).",
)
@click.option(
    "--random",
    "n_random",
    type=click.IntRange(0),
    help="auto-design: random dominated grid targets on top of --targets [default: 50 with "
    "--targets 0, else none].",
)
@click.option(
    "--budget", type=click.IntRange(1), default=256, show_default=True, help="Samples per target."
)
@click.option(
    "--strategy", type=click.Choice(["ucb", "thompson"]), default="ucb", show_default=True
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a best-FoM-vs-dataset scatter PNG (paper Fig. 10 style).",
)
@force_option
@click.option("--json", "as_json", is_flag=True, help="Print every target's row as JSON.")
def evaluate(
    task: str,
    dataset: str,
    model_name: str | None,
    evaluator_name: str | None,
    rounds: int,
    samples: int,
    no_verify: bool,
    refine: bool,
    temperature: float,
    workers: int | None,
    cluster: str | None,
    n_classes: int,
    n_random: int | None,
    budget: int,
    strategy: str,
    seed: int,
    plot_path: Path | None,
    force: bool,
    as_json: bool,
) -> None:
    """Run one of the paper's evaluation protocols on a dataset's test split.

    \b
    cond-gen (§3.2): every test joint class × --rounds; the surrogate evaluator gives
      R@1/2/3, Spec-Acc, MM-D, FID, Inter-D/Intra-D; ngspice gives verified Spec-Acc,
      the shares of circuits stable open loop, stable at unity gain and working (both,
      gain > 0 dB), verified Spec-Acc over working amplifiers only, and over the classes
      where the training labels hold a working amplifier, the share in class and stable
      both ways. --refine sizes decodes into their class first (16 decodes, 3 sized per
      request: ≈ 50 ms a request, 20–25 min for 120 rounds; docs/sizing.md).
      120 rounds on ocb101 take 1.5–2 min (CktGen) to 4 min (LDT) on 2 cores.
    recon (§3.4): reconstruction accuracy of the test circuits.
    uncond (§3.4): --samples prior latents × 10 decodes: validity and novelty.

    auto-design: every joint class of the dataset read as an inequality target, plus 50
    random dominated targets (--targets N alone: N targets in total, all classes; --random
    M adds M random ones); `design` spends --budget samples on each. Reports the share
    of targets met (ngspice), the best FoM against the dataset's best circuit meeting the
    same target, and seconds per target (≈ 3 s on 2 cores).

    \b
    Example:
      cktgen-eda evaluate --task cond-gen --rounds 120 --json
      cktgen-eda evaluate --task recon --model runs/vae/best.pt
      cktgen-eda evaluate --task auto-design --targets 100 --random 50 --plot ad.png
    """
    from ..netlist.cluster import use_cluster

    if task != "auto-design":
        from ..evaluation import run_task

        with use_cluster(cluster):
            result = run_task(
                task,
                dataset,
                model_name,
                evaluator_name,
                rounds=rounds,
                samples=samples,
                verify=not no_verify,
                workers=workers,
                refine=refine,
                temperature=temperature,
            )
        if as_json:
            click.echo(json.dumps(result, indent=2))
        else:
            from ..report import table

            rows = [[k, f"{v:.4g}" if isinstance(v, float) else str(v)] for k, v in result.items()]
            click.echo(table(["metric", "value"], rows))
        return
    from ..evaluation.auto_design import plot, run
    from ..report import table

    if plot_path is not None:
        from ..fileio import check_output

        check_output(plot_path, force)  # before minutes of search, not after
    with use_cluster(cluster):
        result = run(
            dataset, model_name, n_classes, n_random, budget, strategy, seed, progress=True
        )
    if plot_path is not None:
        plot(result, plot_path, force=force)
        click.echo(f"wrote {plot_path}", err=True)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    rows = []
    for kind, s in result["summary"].items():
        if not s.get("targets"):
            continue
        rows.append(
            [
                kind,
                str(s["targets"]),
                f"{100 * s['satisfied']:.1f} %",
                "-" if s["mean_best_fom"] is None else f"{s['mean_best_fom']:.1f}",
                "-" if s["mean_fom_ratio"] is None else f"{s['mean_fom_ratio']:.3f}",
                f"{s['seconds_per_target']:.2f}",
            ]
        )
    click.echo(
        table(
            [
                "targets",
                "n",
                "satisfied (ngspice)",
                "mean best FoM",
                "FoM / dataset best",
                "s / target",
            ],
            rows,
        )
    )
