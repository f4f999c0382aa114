"""``cktgen-eda design``: bandit search over the model's classes, ngspice in the loop.

Parses and renders only: ``design.design`` searches, writes ``--out-dir`` and fires the
``candidates_ready`` plugins.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import cli
from .options import (
    ExporterChoice,
    allow_unstable_option,
    cluster_option,
    engine_option,
    force_option,
    model_option,
    objective_option,
    out_dir_option,
    spec_option_value,
    temperature_option,
    workers_option,
)


@cli.command("design")
@click.option(
    "--spec",
    "spec_text",
    required=True,
    metavar="TEXT",
    help='Targets, e.g. "gain>=100dB,ugf>=2GHz,pm>=30deg".',
)
@click.option(
    "--budget",
    type=click.IntRange(1, 100000),
    default=256,
    show_default=True,
    help="Circuits to generate and screen (sized variants are extra).",
)
@click.option(
    "--batch",
    type=click.IntRange(1, 1024),
    default=16,
    show_default=True,
    help="Circuits per bandit pull.",
)
@click.option(
    "--top",
    type=click.IntRange(1, 100),
    default=5,
    show_default=True,
    help="Best designs to report and write.",
)
@click.option(
    "--strategy",
    type=click.Choice(["ucb", "thompson"]),
    default="ucb",
    show_default=True,
    help="Bandit: UCB1 or Thompson sampling.",
)
@objective_option("fom", "What 'best' means")
@click.option(
    "--refine",
    type=click.IntRange(0, 1024),
    default=16,
    show_default=True,
    help="After the search, size this many of the best circuits (passes by objective, then "
    "the closest misses) into the spec in one batch (0: none).",
)
@click.option("--seconds", type=click.FloatRange(0.1), help="Also stop after this wall time.")
@model_option
@temperature_option
@click.option("--seed", type=int, default=0, show_default=True)
@out_dir_option("Write the designs (--format, plus a SPICE deck each) into this folder.")
@click.option(
    "--format",
    "fmt",
    type=ExporterChoice(),
    default="json",
    help="File format of the designs in --out-dir (json, spice, kicad, svg, png, or a "
    "plugin's) [default: json].",
)
@click.option(
    "--plot",
    is_flag=True,
    help="With --out-dir: Bode plot of the best and a convergence plot (best FoM vs samples).",
)
@force_option
@click.option(
    "--json", "as_json", is_flag=True, help="Print JSON: the output envelope of docs/simulation.md."
)
@allow_unstable_option
@engine_option("The simulator that confirms the designs")
@workers_option
@cluster_option
def design(
    spec_text: str,
    budget: int,
    batch: int,
    top: int,
    strategy: str,
    objective: str,
    refine: int,
    seconds: float | None,
    model_name: str | None,
    temperature: float | None,
    seed: int,
    out_dir: Path | None,
    fmt: str,
    plot: bool,
    force: bool,
    as_json: bool,
    allow_unstable: bool,
    simulator: str,
    workers: int | None,
    cluster: str | None,
) -> None:
    """Search for the best circuits (by --objective) that ngspice confirms meet a spec.

    The arms are the model's joint classes that can meet the spec; a multi-armed bandit
    spends the sampling budget on them, generating a batch per pull. The exact small-signal
    engine (ngspice's numbers to 1e-7) screens every circuit and the pull is rewarded by its
    best design that meets every constraint; afterwards the --refine best circuits are
    sized into the spec (same topology, new values, by --objective), and ngspice (or the
    --engine simulator) re-measures the best designs: only those it confirms are reported.
    A design counts only if it is a stable amplifier, open loop and at unity gain, with
    gain above 0 dB and the loop phase margin in the spec (unstable circuits earn no
    reward); with --allow-unstable the benchmark's raw convention is used instead. Reports
    the top designs with measured gain, UGF, PM, loop PM, FoM and settling time; exits 1 when
    nothing met the spec.

    \b
    Example:
      cktgen-eda design --spec "gain>=100dB,ugf>=2GHz,pm>=30deg" --out-dir best/ --plot
      cktgen-eda design --spec "gain>=80dB,ugf>=1GHz" --out-dir best/ --format svg
      cktgen-eda design --spec "gain>=60dB,ugf>=500MHz,pm>=60deg" --objective power
    """
    from ..design import design as run_design
    from ..netlist.cluster import use_cluster
    from ..report import design_table

    if plot and out_dir is None:
        raise click.UsageError("--plot needs --out-dir DIR")
    # ngspice runs on --cluster (if any) until the command ends
    click.get_current_context().with_resource(use_cluster(cluster))
    from tqdm import tqdm

    bar = tqdm(total=budget, desc="design", unit="ckt", file=sys.stderr)

    def step(samples: int, best: float | None, feasible: int) -> None:
        bar.update(samples - bar.n)
        bar.set_postfix(best_fom="-" if best is None else f"{best:.1f}", feasible=feasible)

    def render(result) -> None:
        bar.close()
        if out_dir is not None:
            click.echo(f"wrote {len(result.designs)} designs to {out_dir}", err=True)
        click.echo(json.dumps(result.to_dict(), indent=2) if as_json else design_table(result))

    result = run_design(
        spec_option_value(spec_text, allow_unstable),
        budget=budget,
        batch=batch,
        top=top,
        model=model_name,
        temperature=temperature,
        strategy=strategy,
        seed=seed,
        seconds=seconds,
        workers=workers,
        on_step=step,
        objective=objective,
        refine=refine,
        simulator=simulator,
        out_dir=out_dir,
        fmt=fmt,
        force=force,
        plot=plot,
        on_result=render,
    )
    if not result.designs:
        click.echo(
            f"no design met {result.spec} in {result.samples} samples: raise --budget, relax "
            "the spec (a lower ugf or pm bound), or try --strategy thompson",
            err=True,
        )
        sys.exit(1)
