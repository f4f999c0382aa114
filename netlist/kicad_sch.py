"""Write a KiCad 7+ schematic (``.kicad_sch``, S-expressions) of a circuit's OCB testbench.

circuit → testbench → kicad_place → **schematic** → KiCad. ``kicad_place`` decides where
everything goes (signal flow left to right, side paths in lanes, a PWR_FLAG on GND); this
module only writes it out: the embedded library symbols, wires, junction dots, net labels,
the notes (the DAG as text and the ``.ac`` command) and the symbols with their fields. The
DAG also goes in title-block comments, split so that each stays inside the title block. All
ids are uuid5 values (``kicad.item_uuid``), so equal circuits give byte-identical files.
"""

from __future__ import annotations

import uuid

from ..circuit import Circuit
from .kicad import TITLE, sheet_uuid
from .kicad import item_uuid as _uid
from .kicad_place import place
from .kicad_sheet import Sym
from .kicad_symbols import GRID_MM, lib_symbols, mm, prop, q

VERSION = 20230121  # KiCad 7.0 schematic format
_FONT = "(font (size 1.27 1.27))"


def _xy(x: float, y: float) -> str:
    return f"{mm(x * GRID_MM)} {mm(y * GRID_MM)}"


def _symbol(s: Sym, project: str, root: uuid.UUID) -> str:
    mirror = " (mirror y)" if s.mirror else ""
    lines = [
        f"(symbol (lib_id {q(s.lib_id)}) (at {_xy(s.x, s.y)} {s.angle}){mirror} (unit 1)",
        "(in_bom yes) (on_board yes) (dnp no)",
        f"(uuid {_uid(root, f'sym/{s.ref}')})",
    ]
    # Field angles are relative to the symbol: 90 on a turned symbol reads horizontally.
    angle = 90 if s.angle in (90, 270) else 0
    x, y = s.x * GRID_MM, s.y * GRID_MM
    shown = {f.name: f for f in s.fields}
    for name, value in (("Reference", s.ref), ("Value", s.value)):
        f = shown.get(name)
        if f is None:
            lines.append(prop(name, value, x, y, hide=True))
        else:
            lines.append(prop(name, value, f.x * GRID_MM, f.y * GRID_MM, angle=angle))
    datasheet = "~" if s.lib_id.startswith("Device:") else ""
    lines += [prop("Footprint", "", x, y, hide=True), prop("Datasheet", datasheet, x, y, hide=True)]
    lines += [prop(name, value, x, y, hide=True) for name, value in s.sim]
    lines += [f"(pin {q(n)} (uuid {_uid(root, f'pin/{s.ref}/{n}')}))" for n in sorted(s.pins())]
    lines.append(
        f"(instances (project {q(project)} (path {q('/' + str(root))} "
        f"(reference {q(s.ref)}) (unit 1))))"
    )
    return "\n    ".join(lines) + ")"


def write_schematic(circuit: Circuit, project: str) -> str:
    """See ``kicad.write_kicad_sch``."""
    sheet = place(circuit)
    d = sheet.drawing
    root = sheet_uuid(circuit)
    out = [
        f"(kicad_sch (version {VERSION}) (generator cktgen-eda)",
        "",
        f"  (uuid {root})",
        "",
        f"  (paper {q(sheet.paper)})",
        "",
        "  (title_block",
        f"    (title {q(TITLE)})",
    ]
    out += [f"    (comment {k} {q(text)})" for k, text in enumerate(sheet.comments, 1)]
    out += ["  )", "", "  (lib_symbols"]
    out += [f"    {block}" for block in lib_symbols()]
    out += ["  )", ""]
    for k, (x, y) in enumerate(sheet.junctions):
        out.append(
            f"  (junction (at {_xy(x, y)}) (diameter 0) (color 0 0 0 0) "
            f"(uuid {_uid(root, f'junction/{k}')}))"
        )
    for k, w in enumerate(d.wires):
        out.append(
            f"  (wire (pts (xy {_xy(w.x1, w.y1)}) (xy {_xy(w.x2, w.y2)})) "
            f"(stroke (width 0) (type default)) (uuid {_uid(root, f'wire/{k}')}))"
        )
    for k, lb in enumerate(d.labels):
        out.append(
            f"  (label {q(lb.net)} (at {_xy(lb.x, lb.y)} 0) (fields_autoplaced)\n"
            f"    (effects {_FONT} (justify left bottom))\n"
            f"    (uuid {_uid(root, f'label/{k}')}))"
        )
    for k, t in enumerate(d.texts):
        out.append(
            f"  (text {q(t.text)} (at {_xy(t.x, t.y)} 0)\n"
            f"    (effects {_FONT} (justify left top))\n"
            f"    (uuid {_uid(root, f'text/{k}')}))"
        )
    out += ["  " + _symbol(s, project, root) for s in d.symbols]
    out += ["", "  (sheet_instances", '    (path "/" (page "1"))', "  )", ")", ""]
    return "\n".join(out)
