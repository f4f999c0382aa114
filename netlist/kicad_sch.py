"""Write a KiCad 7+ schematic (``.kicad_sch``, S-expressions) of a circuit's OCB testbench.

circuit → testbench → **schematic** → KiCad. One symbol per testbench element, placed on a
1.27 mm grid (one column per subgraph, the source first); every pin end carries a local net
label or a ``power:GND`` symbol, so no wires are needed. The DAG goes in title-block
comments, the ``.ac`` command and a readable note in text items. All ids are uuid5 values
(``kicad.item_uuid``), so equal circuits give byte-identical files.
"""

from __future__ import annotations

from functools import cache

from ..circuit import Circuit
from ..subgraphs import POSITION_NAMES
from .kicad import GND_LABEL, TITLE, annotation, components, item_uuid, sheet_uuid
from .spice import AC_CARD
from .testbench import GND, IN_NET, OUT_NET

VERSION = 20230121  # KiCad 7.0 schematic format
PITCH = 25.4  # mm between columns and between rows (20 grid steps of 1.27 mm)
X0, Y0 = 30.48, 63.5
# Pin ends relative to the symbol origin on the sheet (y grows downwards), by pin number.
PIN_ENDS = {
    "R": {"1": (0.0, -3.81), "2": (0.0, 3.81)},
    "C": {"1": (0.0, -3.81), "2": (0.0, 3.81)},
    "G": {"1": (0.0, -5.08), "2": (0.0, 5.08), "3": (-5.08, -5.08), "4": (-5.08, 5.08)},
    "V": {"1": (0.0, -5.08), "2": (0.0, 5.08)},
}
_FONT = "(font (size 1.27 1.27))"


def q(text: str) -> str:
    """A quoted S-expression string (backslash, quote and newline escaped as KiCad does)."""
    text = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{text}"'


@cache  # a sheet reuses a few hundred grid coordinates
def mm(x: float) -> str:
    """A coordinate in millimetres, shortest text (``25.4``, ``0``)."""
    text = f"{x:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _prop(name: str, value: str, x: float, y: float, hide=False, justify=None, angle=0) -> str:
    effects = _FONT + (f" (justify {justify})" if justify else "") + (" hide" if hide else "")
    return f"(property {q(name)} {q(value)} (at {mm(x)} {mm(y)} {angle}) (effects {effects}))"


def _pin(kind: str, number: str, name: str, x: float, y: float, angle: int, length: float) -> str:
    return (
        f"(pin {kind} line (at {mm(x)} {mm(y)} {angle}) (length {mm(length)}) "
        f"(name {q(name)} (effects {_FONT})) (number {q(number)} (effects {_FONT})))"
    )


def _stroke(width: float = 0.0, fill: str = "none") -> str:
    return f"(stroke (width {mm(width)}) (type default)) (fill (type {fill}))"


def _poly(*pts: tuple[float, float], width: float = 0.0, fill: str = "none") -> str:
    xy = " ".join(f"(xy {mm(x)} {mm(y)})" for x, y in pts)
    return f"(polyline (pts {xy}) {_stroke(width, fill)})"


@cache
def _lib_symbols() -> tuple[str, ...]:
    """Embedded library symbols (KiCad 7 library shapes, pins as in the stock libraries)."""
    hid, bg = dict(hide=True), "background"
    r = [
        '(symbol "Device:R" (pin_numbers hide) (pin_names (offset 0)) (in_bom yes) (on_board yes)',
        _prop("Reference", "R", 2.032, 0, angle=90),
        _prop("Value", "R", 0, 0, angle=90),
        _prop("Footprint", "", -1.778, 0, angle=90, **hid),
        _prop("Datasheet", "~", 0, 0, **hid),
        _prop("ki_description", "Resistor", 0, 0, **hid),
        f'(symbol "R_0_1" (rectangle (start -1.016 -2.54) (end 1.016 2.54) {_stroke(0.254)}))',
        f'(symbol "R_1_1" {_pin("passive", "1", "~", 0, 3.81, 270, 1.27)} '
        f"{_pin('passive', '2', '~', 0, -3.81, 90, 1.27)}))",
    ]
    c = [
        '(symbol "Device:C" (pin_numbers hide) (pin_names (offset 0.254)) (in_bom yes) '
        "(on_board yes)",
        _prop("Reference", "C", 0.635, 2.54, justify="left"),
        _prop("Value", "C", 0.635, -2.54, justify="left"),
        _prop("Footprint", "", 0.9652, -3.81, **hid),
        _prop("Datasheet", "~", 0, 0, **hid),
        _prop("ki_description", "Unpolarized capacitor", 0, 0, **hid),
        f'(symbol "C_0_1" {_poly((-2.032, -0.762), (2.032, -0.762), width=0.508)} '
        f"{_poly((-2.032, 0.762), (2.032, 0.762), width=0.508)})",
        f'(symbol "C_1_1" {_pin("passive", "1", "~", 0, 3.81, 270, 2.794)} '
        f"{_pin('passive', '2', '~', 0, -3.81, 90, 2.794)}))",
    ]
    g = [
        '(symbol "Simulation_SPICE:GSOURCE" (pin_numbers hide) (pin_names (offset 1.016) hide) '
        "(in_bom yes) (on_board yes)",
        _prop("Reference", "G", 2.54, 2.54, justify="left"),
        _prop("Value", "GSOURCE", 2.54, 0, justify="left"),
        _prop("Footprint", "", 0, 0, **hid),
        _prop("Datasheet", "", 0, 0, **hid),
        _prop("Sim.Device", "SPICE", 0, 0, **hid),
        _prop("Sim.Params", 'type="G" model="1"', 2.54, -2.54, justify="left", **hid),
        _prop("Sim.Pins", "1=1 2=2 3=3 4=4", 0, 0, **hid),
        _prop("ki_description", "Voltage-controlled current source", 0, 0, **hid),
        f'(symbol "GSOURCE_0_1" {_poly((0, 2.032), (0, 1.016))} '
        f"{_poly((0.254, 1.524), (0, 1.016), (-0.254, 1.524))})",
        f'(symbol "GSOURCE_1_1" (circle (center -5.08 0) (radius 2.54) {_stroke(0.254, bg)}) '
        f"{_poly((0, 2.54), (-2.54, 0), (0, -2.54), (2.54, 0), (0, 2.54), width=0.254, fill=bg)} "
        f"{_poly((-4.826, 3.81), (-4.318, 3.81))} {_poly((-4.572, 4.064), (-4.572, 3.556))} "
        f"{_poly((-4.826, -3.81), (-4.318, -3.81))} "
        f'(text "V" (at -5.08 0 0) (effects {_FONT})) '
        f"{_pin('passive', '1', 'N+', 0, 5.08, 270, 2.54)} "
        f"{_pin('passive', '2', 'N-', 0, -5.08, 90, 2.54)} "
        f"{_pin('input', '3', 'C+', -5.08, 5.08, 270, 2.54)} "
        f"{_pin('input', '4', 'C-', -5.08, -5.08, 90, 2.54)}))",
    ]
    v = [
        '(symbol "Simulation_SPICE:VDC" (pin_numbers hide) (pin_names (offset 0.0254)) '
        "(in_bom yes) (on_board yes)",
        _prop("Reference", "V", 2.54, 2.54, justify="left"),
        _prop("Value", "1", 2.54, 0, justify="left"),
        _prop("Footprint", "", 0, 0, **hid),
        _prop("Datasheet", "", 0, 0, **hid),
        _prop("Sim.Device", "V", 0, 0, **hid),
        _prop("Sim.Type", "DC", 0, 0, **hid),
        _prop("Sim.Pins", "1=+ 2=-", 0, 0, **hid),
        _prop("ki_description", "Voltage source, DC", 0, 0, **hid),
        f'(symbol "VDC_0_1" (circle (center 0 0) (radius 2.54) {_stroke(0.254, "background")}) '
        f"{_poly((-1.27, 0.254), (1.27, 0.254))} {_poly((-1.27, -0.254), (1.27, -0.254))} "
        f'(text "+" (at 0 1.905 0) (effects {_FONT})))',
        f'(symbol "VDC_1_1" {_pin("passive", "1", "~", 0, 5.08, 270, 2.54)} '
        f"{_pin('passive', '2', '~', 0, -5.08, 90, 2.54)}))",
    ]
    gnd = [
        '(symbol "power:GND" (power) (pin_names (offset 0)) (in_bom yes) (on_board yes)',
        _prop("Reference", "#PWR", 0, -6.35, **hid),
        _prop("Value", "GND", 0, -3.81),
        _prop("Footprint", "", 0, 0, **hid),
        _prop("Datasheet", "", 0, 0, **hid),
        _prop(
            "ki_description",
            'Power symbol creates a global label with name "GND" , ground',
            0,
            0,
            **hid,
        ),
        f'(symbol "GND_0_1" '
        f"{_poly((0, 0), (0, -1.27), (1.27, -1.27), (0, -2.54), (-1.27, -1.27), (0, -1.27))})",
        f'(symbol "GND_1_1" (pin power_in line (at 0 0 270) (length 0) hide '
        f'(name "GND" (effects {_FONT})) (number "1" (effects {_FONT})))))',
    ]
    return tuple("\n      ".join(block) for block in (r, c, g, v, gnd))


def _placed(lib_id, ref, value, fields, pins, x, y, uid, project, root, ref_hidden=False) -> str:
    lines = [
        f"(symbol (lib_id {q(lib_id)}) (at {mm(x)} {mm(y)} 0) (unit 1)",
        "(in_bom yes) (on_board yes) (dnp no)",
        f"(uuid {uid})",
    ]
    if lib_id == "power:GND":
        lines += [
            _prop("Reference", ref, x, y + 6.35, hide=True),
            _prop("Value", value, x, y + 3.81),
            _prop("Footprint", "", x, y, hide=True),
            _prop("Datasheet", "", x, y, hide=True),
        ]
    else:
        dx = 3.81 if lib_id.endswith("GSOURCE") else 2.54
        lines += [
            _prop("Reference", ref, x + dx, y - 1.27, justify="left", hide=ref_hidden),
            _prop("Value", value, x + dx, y + 1.27, justify="left"),
            _prop("Footprint", "", x, y, hide=True),
            _prop("Datasheet", "~" if lib_id.startswith("Device:") else "", x, y, hide=True),
        ]
        lines += [_prop(name, val, x, y, hide=True) for name, val in fields]
    lines += [f"(pin {q(number)} (uuid {pin_uid}))" for number, pin_uid in pins]
    lines.append(
        f"(instances (project {q(project)} (path {q('/' + str(root))} "
        f"(reference {q(ref)}) (unit 1))))"
    )
    return "\n    ".join(lines) + ")"


def _label(net: str, x: float, y: float, up: bool, uid: str) -> str:
    angle, justify = (90, "left bottom") if up else (270, "right bottom")
    return (
        f"(label {q(net)} (at {mm(x)} {mm(y)} {angle}) (fields_autoplaced)\n"
        f"    (effects {_FONT} (justify {justify}))\n    (uuid {uid}))"
    )


def _text(text: str, x: float, y: float, uid: str) -> str:
    return (
        f"(text {q(text)} (at {mm(x)} {mm(y)} 0)\n"
        f"    (effects {_FONT} (justify left bottom))\n    (uuid {uid}))"
    )


def _note(circuit: Circuit, tb) -> str:
    lines = [
        f"cktgen-eda OCB testbench: H = V(/{OUT_NET}) / V(/{IN_NET}); "
        f"source V0 = AC 1 on /{IN_NET}.",
        "Each gm cell G<i> (a VCCS) drives its own 1 MOhm || 50 fF load RL<i>, CL<i>.",
        "Title-block comments 1-3 hold the circuit DAG for `cktgen-eda from-kicad`: keep them.",
    ]
    for i, nd in enumerate(circuit.nodes):
        if nd.kind.is_port:
            continue
        pin_in, pin_out = tb.node_nets[i]
        lines.append(
            f"node {i}: {nd.name} at pos {nd.pos} ({POSITION_NAMES[nd.pos]}), {pin_in} -> {pin_out}"
        )
    return "\n".join(lines)


def write_schematic(circuit: Circuit, project: str) -> str:
    """See ``kicad.write_kicad_sch``."""
    tb, comps = components(circuit)
    root = sheet_uuid(circuit)
    out = [
        f"(kicad_sch (version {VERSION}) (generator cktgen-eda)",
        "",
        f"  (uuid {root})",
        "",
        '  (paper "A3")',
        "",
        "  (title_block",
        f"    (title {q(TITLE)})",
    ]
    out += [f"    (comment {k} {q(text)})" for k, text in enumerate(annotation(circuit), 1)]
    out += ["  )", "", "  (lib_symbols"]
    out += [f"    {block}" for block in _lib_symbols()]
    out += ["  )", ""]
    out.append("  " + _text(AC_CARD, X0 - 5.08, 17.78, item_uuid(root, "text/ac")))
    out.append("  " + _text(_note(circuit, tb), X0 - 5.08, 25.4, item_uuid(root, "text/note")))

    columns: dict[int, int] = {}  # circuit node → column (the source has column 0)
    rows: dict[int, int] = {}
    n_gnd = 0
    for comp, el in zip(comps, (None, *tb.elements)):
        node = -1 if el is None else el.node
        col = columns.setdefault(node, len(columns))
        row = rows.get(node, 0)
        rows[node] = row + 1
        x, y = X0 + PITCH * col, Y0 + PITCH * row
        symbol = comp.symbol
        pins = []
        for (number, _, _), net in zip(symbol.pins, comp.nets):
            pins.append((number, item_uuid(root, f"pin/{comp.ref}/{number}")))
            dx, dy = PIN_ENDS[comp.kind][number]
            px, py = x + dx, y + dy
            if net == GND:
                n_gnd += 1
                ref = f"#PWR{n_gnd:02d}"
                uid = item_uuid(root, f"sym/{ref}")
                pin = [("1", item_uuid(root, f"pin/{ref}/1"))]
                out.append(
                    "  " + _placed("power:GND", ref, GND_LABEL, (), pin, px, py, uid, project, root)
                )
            else:
                uid = item_uuid(root, f"label/{comp.ref}/{number}")
                out.append("  " + _label(net, px, py, dy < 0, uid))
        uid = item_uuid(root, f"sym/{comp.ref}")
        out.append(
            "  "
            + _placed(
                symbol.lib_id, comp.ref, comp.value, comp.fields, pins, x, y, uid, project, root
            )
        )
    out += ["", "  (sheet_instances", '    (path "/" (page "1"))', "  )", ")", ""]
    return "\n".join(out)
