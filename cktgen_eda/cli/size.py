"""``cktgen-eda size``: tune a circuit's device values into a spec."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import cli
from .options import (
    allow_unstable_option,
    force_option,
    objective_option,
    out_node_option,
    spec_option_value,
)


@cli.command("size")
@click.argument("circuit", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--spec",
    "spec_text",
    required=True,
    metavar="TEXT",
    help='Target box, e.g. "gain>=60dB,ugf=100MHz..200MHz,pm>=60deg".',
)
@objective_option("power", "What to optimise inside the spec")
@allow_unstable_option
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the sized circuit here (.json, or a SPICE deck for .cir/.sp; a plain deck "
    "input is written back as a deck with only its values changed).",
)
@force_option
@out_node_option("Output node of plain decks.")
@click.option(
    "--engine",
    type=click.Choice(["ngspice", "fast"]),
    default="ngspice",
    show_default=True,
    help="Simulator that measures the circuit before and after sizing.",
)
@click.option(
    "--restarts",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Starting points (the given values, jitters of them, random draws).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def size_cmd(
    circuit: Path,
    spec_text: str,
    objective: str,
    allow_unstable: bool,
    out: Path | None,
    force: bool,
    out_node: str,
    engine: str,
    restarts: int,
    seed: int,
    as_json: bool,
) -> None:
    """Tune a circuit's device values so that it meets a spec, keeping its topology.

    CIRCUIT is circuit JSON, a `to-spice` deck, an OCB netlist (.scs), a KiCad XML netlist
    or a plain SPICE deck (R, C, L, G/E sources, one AC source;
    output node --out-node). OCB circuits vary every R, C and gm within the benchmark's ranges
    (R 10 kΩ–10 MΩ, C 1 fF–2.5 pF, |gm| 10 µS–10 mS); plain decks vary every top-level R,
    C and G value within ÷100…×100 of its value. The result is stable open loop and at
    unity gain, a small margin inside the box (unless --allow-unstable), and is measured
    before and after with ngspice (--engine). Exits 1 when no sizing meets the spec; the
    closest point found is then shown (and written with -o).

    \b
    Examples:
      cktgen-eda size amp.json --spec "gain>=60dB,ugf>=500MHz,pm>=60deg" -o sized.json
      cktgen-eda size amp.cir --out-node vout --spec "ugf=100MHz..200MHz" --objective margin
    """
    spec = spec_option_value(spec_text, allow_unstable)
    from ..circuit import Circuit
    from ..fileio import atomic_write
    from ..netlist.deck import DECK_SUFFIXES
    from ..netlist.ngspice import SimJob
    from ..report import measurement_table, table
    from ..sizing import load_sizable, size

    if out is not None and out.exists() and not force:
        raise click.ClickException(f"{out} exists; use --force to overwrite it")
    item = load_sizable(circuit, out_node)
    [res] = size([item], spec, objective=objective, restarts=restarts, seed=seed)
    if isinstance(item, Circuit):
        jobs = [item, res.circuit]
    else:
        jobs = [
            SimJob(item.model_text, item.in_node, item.out_node, label="before"),
            SimJob(_prepared(res.deck, item), item.in_node, item.out_node, label="after"),
        ]
    if engine == "ngspice":
        from ..netlist.ngspice import verify
    else:
        from ..netlist.fastac import verify
    before, after = (r.measurement for r in verify(jobs, spec=spec))
    before, after = before.with_file("before"), after.with_file("after")
    met = bool(after.meets_spec)
    if out is not None:
        if isinstance(item, Circuit):
            text = (
                _deck(res.circuit) if out.suffix.lower() in DECK_SUFFIXES else res.circuit.to_json()
            )
        else:
            text = res.deck
        atomic_write(out, text, force=force)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "spec": spec.to_text(),
                    "objective": objective,
                    "met": met,
                    "method": res.method,
                    "power_s": res.power_s,
                    "before": before.to_dict(),
                    "after": after.to_dict(),
                    "values_before": res.values_before,
                    "values_after": res.values_after,
                    "circuit": res.circuit.to_dict() if res.circuit is not None else None,
                    "deck": res.deck,
                },
                indent=2,
            )
        )
    else:
        click.echo(measurement_table([before, after], with_spec=True))
        click.echo()
        rows = [
            [name, _value(name, res.values_before[name]), _value(name, x)]
            for name, x in res.values_after.items()
        ]
        click.echo(table(["device", "before", "after"], rows))
        click.echo()
        click.echo(
            f"spec {spec}: {'met' if met else 'NOT met'} after sizing ({objective}; "
            f"total |gm| {res.power_s * 1e3:.3g} mS; measured by {engine})"
        )
    if out is not None:
        click.echo(f"wrote {out}", err=True)
    if not met:
        click.echo(
            "no sizing found meets the spec; the closest point is shown"
            + (" and written" if out is not None else ""),
            err=True,
        )
        sys.exit(1)


def _deck(circuit) -> str:
    from ..netlist.spice import write_spice

    return write_spice(circuit)


def _prepared(text: str, item) -> str:
    from ..netlist.deck import prepare_deck

    return prepare_deck(text, item.out_node, item.label or "<deck>").text


def _value(name: str, x: float) -> str:
    from ..report import si

    unit = {"R": "Ω", "C": "F", "G": "S"}.get(name[:1].upper(), "")
    return si(x, unit, digits=4)
