"""KiCad BOM/netlist generator: verify the schematic's op-amp with ngspice and write a report.

KiCad → XML netlist (``%I``) → **this script** → recognise → ngspice → report (``%O``).
Register it in the schematic editor (KiCad 7: Tools → Generate Bill of Materials; KiCad 8+:
File → Export → Netlist → Add Generator) with the Python that has cktgen-eda installed::

    /path/to/.venv/bin/python -m cktgen_eda.plugins.kicad_bom_verify "%I" "%O"

(or ``python /path/to/kicad_bom_verify.py "%I" "%O"``). The report goes to ``%O``, with
``.txt`` added when it has no suffix: gain, UGF, phase margin, FoM, benchmark class, the
recognised subgraphs and the ngspice deck. Exit status 0 when the amplifier was measured,
1 with a one-line message when the netlist cannot be read, ngspice fails or a quantity is not
measurable (the report is still written then), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PROG = "kicad_bom_verify"


def report(netlist: str, circuit, measurement, deck: str) -> str:
    """The text report of one verified circuit."""
    from cktgen_eda.report import si
    from cktgen_eda.subgraphs import POSITION_NAMES

    m = measurement
    lines = [
        "cktgen-eda: ngspice verification of a KiCad netlist",
        f"netlist:   {netlist}",
        f"simulator: {m.simulator}",
        "",
        "gain:      " + ("-" if m.gain_db is None else f"{m.gain_db:.2f} dB (at 1 Hz)"),
        f"UGF:       {si(m.ugf_hz, 'Hz', 4)}",
        "PM:        " + ("-" if m.pm_deg is None else f"{m.pm_deg:.2f} deg"),
        "FoM:       " + ("-" if m.fom is None else f"{m.fom:.4f}"),
        "class:     "
        + ("-" if m.spec_class is None else "gain {}, bw {}, pm {}".format(*m.spec_class)),
        "status:    " + ("valid" if m.valid else f"not measurable: {m.reason}"),
        "",
        "subgraphs (OCB DAG):",
    ]
    for i, nd in enumerate(circuit.nodes):
        values = ", ".join(f"{k}={v:g}" for k, v in nd.values().items())
        lines.append(
            f"  {i}: {nd.name} at pos {nd.pos} ({POSITION_NAMES[nd.pos]})"
            + (f": {values}" if values else "")
        )
    lines.append("  edges: " + " ".join(f"{a}->{b}" for a, b in circuit.edges))
    lines += ["", "SPICE deck (cktgen-eda to-spice; run with ngspice -b):", deck]
    return "\n".join(lines)


def output_path(out: str) -> Path:
    """``%O`` as KiCad passes it, with ``.txt`` added when it has no suffix."""
    path = Path(out)
    return path if path.suffix else path.with_name(path.name + ".txt")


def main(argv: list[str] | None = None) -> int:
    """Run the generator; returns the exit status."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("netlist", help="KiCad XML netlist (%%I)")
    parser.add_argument("output", help="report file (%%O); .txt is added without a suffix")
    parser.add_argument("--in-net", default="in", help="input net of a drawn amplifier")
    parser.add_argument("--out-net", default="out", help="output net of the amplifier")
    parser.add_argument("--timeout", type=float, default=30.0, help="ngspice seconds")
    args = parser.parse_args(argv)

    from cktgen_eda.errors import CktGenError
    from cktgen_eda.fileio import atomic_write
    from cktgen_eda.netlist.kicad import read_kicad_netlist
    from cktgen_eda.netlist.ngspice import verify
    from cktgen_eda.netlist.spice import write_spice

    target = output_path(args.output)
    try:
        circuit = read_kicad_netlist(args.netlist, in_net=args.in_net, out_net=args.out_net)
        deck = write_spice(circuit)
        [result] = verify([circuit], workers=1, timeout_s=args.timeout)
        m = result.measurement.with_file(args.netlist)
        atomic_write(target, report(args.netlist, circuit, m, deck) + "\n")
        result.check()
    except CktGenError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    if not m.valid:
        print(f"{PROG}: not measurable: {m.reason} (report: {target})", file=sys.stderr)
        return 1
    print(
        f"{PROG}: gain {m.gain_db:.1f} dB, UGF {m.ugf_hz:.4g} Hz, PM {m.pm_deg:.1f} deg, "
        f"FoM {m.fom:.3f}; report: {target}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
