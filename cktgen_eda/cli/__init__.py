"""The ``cktgen-eda`` command line (click). Thin: parse options, call the library, render.

Library errors (``CktGenError``) become one ``Error: …`` line and exit 1; usage errors exit 2.
Heavy modules (PySpice, matplotlib, torch) are imported inside the commands that need them,
so ``--help`` stays instant.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .. import __version__
from ..errors import CktGenError
from .options import (
    EngineChoice,
    allow_unstable_option,
    cluster_option,
    emit,
    force_option,
    out_node_option,
    out_option,
    spec_option_value,
    workers_option,
)


class _Group(click.Group):
    """Turns library errors into click errors once, for every command."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CktGenError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="cktgen-eda")
def cli() -> None:
    """cktgen-eda: op-amp circuits from a target spec, proven with ngspice.

    Circuits are OCB subgraph DAGs (26 R/C/gm subgraph types) stored as JSON; every
    command reads and writes that format. Results go to stdout, progress to stderr.

    \b
    Examples:
      cktgen-eda to-spice amp.json -o amp.cir
      cktgen-eda from-spice ocb_netlist.scs -o amp.json
      cktgen-eda verify --ngspice amp.json other.cir --spec "gain>=60dB,ugf>=50MHz,pm>=45deg"
    """


@cli.command("to-spice")
@click.argument("circuit", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@out_option
@force_option
def to_spice(circuit: Path, out: Path | None, force: bool) -> None:
    """Write the ngspice testbench deck of a circuit JSON file.

    The deck is the OCB testbench: subgraph templates, 1 MΩ ∥ 50 fF per gm cell, an AC
    source on net `in`, output `out`, `.ac dec 100 1 100G`. A `.control` block after `.end`
    makes `ngspice -b` run the sweep and print `gain_db`, `ugf_hz` and `pm_deg` as `verify`
    measures them ("none" without a 0 dB crossing; exit status 1 if the sweep fails). It
    reads back losslessly with `from-spice`.

    \b
    Example:
      cktgen-eda to-spice amp.json -o amp.cir && ngspice -b amp.cir
    """
    from ..circuit import load_circuit
    from ..netlist.spice import write_spice

    emit(write_spice(load_circuit(circuit)), out, force)


@cli.command("from-spice")
@click.argument("netlist", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@out_option
@force_option
@out_node_option("Output net of an OCB-style subcircuit netlist (case-insensitive).", "--out-net")
def from_spice(netlist: Path, out: Path | None, force: bool, out_node: str) -> None:
    """Read a netlist back into circuit JSON.

    Accepts decks written by `to-spice` (lossless) and OCB-style subcircuit netlists in
    Spectre or SPICE syntax, such as the original benchmark's Spectre netlists (there
    `M` means mega).

    \b
    Example:
      cktgen-eda from-spice ocb_example.scs -o amp.json
    """
    from ..netlist.spice import read_spice

    circuit = read_spice(netlist, out_net=out_node)
    emit(circuit.to_json(), out, force)


@cli.command("verify")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--ngspice",
    "simulator",
    flag_value="ngspice",
    default=True,
    help="Simulate with ngspice (the default; same as --engine ngspice).",
)
@click.option(
    "--engine",
    "simulator",
    metavar="NAME",
    type=EngineChoice(),
    help="Simulator: ngspice (default), fast (the exact small-signal engine, for "
    "screening; agrees with ngspice to 1e-7 on H) or one a plugin registers.",
)
@click.option(
    "--spec",
    "spec_text",
    metavar="TEXT",
    help='Target, e.g. "gain>=60dB,ugf>=50MHz,pm>=45deg"; adds PASS/FAIL with the reasons.',
)
@allow_unstable_option
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print JSON: the output envelope of docs/simulation.md, one result per file.",
)
@click.option(
    "--plot",
    "plot_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write a Bode plot PNG per circuit (named after its file) into this folder.",
)
@force_option
@out_node_option("Output node of plain SPICE decks (.cir/.sp).")
@workers_option
@cluster_option
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(0.1),
    default=10.0,
    show_default=True,
    help="Seconds allowed per circuit.",
)
def verify(
    files: tuple[Path, ...],
    simulator: str,
    spec_text: str | None,
    allow_unstable: bool,
    as_json: bool,
    plot_dir: Path | None,
    force: bool,
    out_node: str,
    workers: int | None,
    cluster: str | None,
    timeout_s: float,
) -> None:
    """Measure circuits with ngspice: gain, UGF, phase margin, FoM.

    FILES are circuit JSON files, decks from `to-spice`, OCB Spectre netlists (.scs), or
    plain SPICE decks (.cir/.sp: R, C, L, G/E sources, .subckt instances and one AC
    voltage source; the output node is --out). Gain is read at 1 Hz, UGF is the first
    0 dB crossing, PM = 180° + phase at the UGF (the benchmark's convention). Every circuit
    also gets exact stability verdicts from its poles: stable open loop, and stable closed
    in unity-gain negative feedback (sign from the DC gain), with the loop's phase margin
    ("loop PM") and the follower's 1 % settling time (--json). With --spec a PASS needs a
    stable amplifier both ways, gain above 0 dB and every constraint, PM judged on the loop
    PM; --allow-unstable (or "stable=any") judges the benchmark's raw numbers instead.
    Exits 0 when every circuit was simulated, 1 otherwise.

    \b
    Examples:
      cktgen-eda verify --ngspice examples/circuits/*.json
      cktgen-eda verify amp.cir --out-node vout --spec "gain>=60dB,pm>=45deg" --json
    """
    spec = spec_option_value(spec_text, allow_unstable)
    from ..netlist.cluster import use_cluster
    from ..netlist.ngspice import job_for
    from ..plugins import get_simulator
    from ..report import measurement_table

    sim = get_simulator(simulator)
    # Read every input first: a bad file is a one-line error before any simulation starts.
    jobs = [job_for(path, k, plot_dir is not None, out_node) for k, path in enumerate(files)]
    plots = _plot_targets(files, plot_dir, force) if plot_dir is not None else []
    # the jobs already carry keep_sweep and the output node
    with use_cluster(cluster):
        results = sim.verify(
            jobs, spec=spec, workers=workers, timeout_s=timeout_s, progress=len(files) > 20
        )
    measurements = [r.measurement for r in results]
    if as_json:
        from ..report import envelope, result_entry

        items = [
            result_entry(r.measurement, None, f, error=r.error) for f, r in zip(files, results)
        ]
        click.echo(json.dumps(envelope(spec, sim.name, items), indent=2))
    else:
        click.echo(measurement_table(measurements, with_spec=spec is not None))
    if plots:
        _write_plots(plots, files, results, force)
    failed = [r for r in results if r.error is not None]
    if failed:
        click.echo(f"{len(failed)} of {len(results)} simulations failed", err=True)
        sys.exit(1)


def _plot_targets(files: tuple[Path, ...], plot_dir: Path, force: bool) -> list[Path]:
    """One PNG path per input (stems made unique), checked before any simulation runs."""
    from ..fileio import check_output_dir

    targets, used = [], set()
    for k, path in enumerate(files):
        stem = path.stem if path.stem not in used else f"{path.stem}-{k}"
        used.add(stem)
        targets.append(plot_dir / f"{stem}.png")
    check_output_dir(plot_dir, [t.name for t in targets], force)
    return targets


def _write_plots(targets: list[Path], files, results, force: bool) -> None:
    """Write the Bode plots of the simulated circuits, all or none."""
    from ..fileio import write_folder
    from ..plotting import bode_png

    pngs = {
        target.name: bode_png(r.freq_hz, r.h, r.measurement, title=path.name)
        for target, path, r in zip(targets, files, results)
        if r.freq_hz is not None
    }
    if pngs:
        for target in write_folder(targets[0].parent, pngs, force=force):
            click.echo(f"wrote {target}", err=True)


# Command groups in their own modules register themselves on ``cli``.
from . import dataset as _dataset  # noqa: E402, F401
from . import design as _design  # noqa: E402, F401
from . import evaluate as _evaluate  # noqa: E402, F401
from . import kicad as _kicad  # noqa: E402, F401
from . import model as _model  # noqa: E402, F401
from . import plugins as _plugins  # noqa: E402, F401
from . import size as _size  # noqa: E402, F401


def main() -> None:
    """Console-script entry point.

    Click already ends quietly on a closed pipe (``| head``); any other failure to write
    (stdout on a full disk or ``/dev/full``) becomes one ``Error:`` line and exit 1.
    """
    try:
        cli(prog_name="cktgen-eda")
    except OSError as exc:
        _stdout_to_devnull()  # the interpreter's final flush must not fail again
        where = f"{exc.filename}" if exc.filename else "cannot write output"
        click.echo(f"Error: {where}: {exc.strerror or exc}", err=True)
        sys.exit(1)


def _stdout_to_devnull() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
