"""``cktgen-eda to-kicad`` and ``from-kicad``: circuits to and from KiCad 7+."""

from __future__ import annotations

from pathlib import Path

import click

from . import cli
from .options import emit, force_option, in_node_option, out_node_option, out_option


@cli.command("to-kicad")
@click.argument("circuit", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@out_option
@force_option
@click.option(
    "--netlist-xml",
    is_flag=True,
    help="Write the KiCad XML intermediate netlist instead of a schematic.",
)
@click.option(
    "--preview",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write KiCad's rendering of the schematic to FILE.svg or FILE.png "
    "(needs kicad-cli; PNG also pdftoppm; `make kicad` installs both).",
)
def to_kicad(
    circuit: Path, out: Path | None, force: bool, netlist_xml: bool, preview: Path | None
) -> None:
    """Write a KiCad 7+ schematic (or XML netlist) of a circuit JSON file.

    The schematic holds the OCB testbench, drawn left to right: the AC 1 source on net
    `in`, each main stage between its nets (a SPICE VCCS with its 1 MΩ ∥ 50 fF load to GND
    below its output), output `out` at the right, feed-forward side paths above the chain
    and feedback ones below, plus the `.ac dec 100 1 100G` command, so KiCad's simulator
    runs it as is and its ERC passes. Ids are uuid5, so the same circuit gives the same
    file. Both formats read back with `from-kicad` (the XML directly; a schematic after
    KiCad exports its netlist).

    \b
    Examples:
      cktgen-eda to-kicad amp.json -o amp.kicad_sch --preview amp.png
      cktgen-eda to-kicad amp.json --netlist-xml -o amp.xml
    """
    from ..circuit import load_circuit
    from ..netlist.kicad import DEFAULT_PROJECT, write_kicad_netlist, write_kicad_sch

    if preview is not None:  # every check before anything is written
        from ..fileio import check_output
        from ..netlist.kicad_cli import check_tools

        check_tools(preview.suffix)
        check_output(preview, force)
    c = load_circuit(circuit)
    project = out.stem if out is not None else DEFAULT_PROJECT
    schematic = write_kicad_sch(c, project)
    emit(write_kicad_netlist(c, project) if netlist_xml else schematic, out, force)
    if preview is not None:
        from ..fileio import atomic_write
        from ..netlist.kicad_cli import render_text

        atomic_write(preview, render_text(schematic, project, preview.suffix), force=force)
        click.echo(f"wrote {preview}", err=True)


@cli.command("from-kicad")
@click.argument("netlist", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@out_option
@force_option
@in_node_option("Input net of a drawn amplifier (else the net its voltage source drives).")
@out_node_option("Output net of the amplifier.", "--out-net")
def from_kicad(netlist: Path, out: Path | None, force: bool, in_node: str, out_node: str) -> None:
    """Read a KiCad XML netlist back into circuit JSON.

    Netlists of schematics from `to-kicad` read back exactly (values edited in KiCad
    included). Netlists of amplifiers drawn by hand are recognised from their devices:
    R, C and VCCS (each VCCS with a 1 MΩ ∥ 50 fF load to GND), input net `in` (--in-node),
    output net `out` (--out-node); net names ignore the sheet path and case. Export the
    netlist in KiCad (File → Export → Netlist → KiCad) or with kicad-cli.

    \b
    Examples:
      kicad-cli sch export netlist --format kicadxml -o amp.xml amp.kicad_sch
      cktgen-eda from-kicad amp.xml -o amp.json
    """
    from ..netlist.kicad import read_kicad_netlist

    circuit = read_kicad_netlist(netlist, in_net=in_node, out_net=out_node)
    emit(circuit.to_json(), out, force)
