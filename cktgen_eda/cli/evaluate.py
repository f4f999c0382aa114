"""``cktgen-eda evaluate``: the paper's evaluation protocols, judged by ngspice."""

from __future__ import annotations

import json
from pathlib import Path

import click

from . import _model_option, cli


@cli.command("evaluate")
@click.option(
    "--task",
    type=click.Choice(["auto-design"]),
    default="auto-design",
    show_default=True,
    help="Protocol to run (the others arrive with issue 6).",
)
@click.option("--dataset", default="ocb101", show_default=True)
@_model_option
@click.option(
    "--targets",
    "n_classes",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Class targets to sample (0: every joint class).",
)
@click.option(
    "--random",
    "n_random",
    type=click.IntRange(0),
    default=50,
    show_default=True,
    help="Random dominated grid targets.",
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
@click.option("--json", "as_json", is_flag=True, help="Print every target's row as JSON.")
def evaluate(
    task: str,
    dataset: str,
    model_name: str | None,
    n_classes: int,
    n_random: int,
    budget: int,
    strategy: str,
    seed: int,
    plot_path: Path | None,
    as_json: bool,
) -> None:
    """Run an evaluation protocol on a dataset's test targets, verified by ngspice.

    auto-design: every joint class of the dataset read as an inequality target, plus
    random dominated targets; `design` spends --budget samples on each. Reports the share
    of targets met (ngspice), the best FoM against the dataset's best circuit meeting the
    same target, and seconds per target (≈ 3 s on 2 cores).

    \b
    Example:
      cktgen-eda evaluate --task auto-design --targets 100 --random 50 --plot ad.png
    """
    from ..evaluation.auto_design import plot, run
    from ..report import table

    result = run(dataset, model_name, n_classes, n_random, budget, strategy, seed, progress=True)
    if plot_path is not None:
        plot(result, plot_path)
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
