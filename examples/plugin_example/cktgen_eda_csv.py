"""Example cktgen-eda plugin: a "netlist-csv" exporter and a CSV summary of candidates.

Installed with its own entry point (group ``cktgen_eda``), it adds ``--format netlist-csv``
to ``cktgen-eda export`` and ``generate``, and writes ``candidates.csv`` beside the files of
``generate --out-dir DIR``.
"""

from __future__ import annotations

import csv
import io

from cktgen_eda.fileio import atomic_write
from cktgen_eda.plugins import hookimpl

SUMMARY = "candidates.csv"
COLUMNS = ("index", "gain_db", "ugf_hz", "pm_deg", "fom", "meets_spec")


def netlist_csv(circuit) -> str:
    """One row per device: subgraph index, type name, component (r/c/gm), value in SI."""
    buf = io.StringIO()
    rows = csv.writer(buf, lineterminator="\n")
    rows.writerow(("subgraph", "type", "component", "value"))
    for i, node in enumerate(circuit.nodes):
        for component, value in node.values().items():
            rows.writerow((i, node.name, component, repr(value)))
    return buf.getvalue()


@hookimpl
def register_exporters(register):
    register("netlist-csv", ".csv", netlist_csv, "one CSV row per R, C and gm device")


@hookimpl
def candidates_ready(circuits, measurements, out_dir):
    if out_dir is None:
        return
    buf = io.StringIO()
    rows = csv.writer(buf, lineterminator="\n")
    rows.writerow(COLUMNS)
    for k, (circuit, m) in enumerate(zip(circuits, measurements)):
        index = (circuit.meta or {}).get("index", k)  # matches candidate_NNN file names
        values = [getattr(m, key, None) for key in COLUMNS[1:]]
        rows.writerow([index] + ["" if v is None else v for v in values])
    atomic_write(out_dir / SUMMARY, buf.getvalue())
