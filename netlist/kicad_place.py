"""Where every item of a circuit's KiCad schematic goes: signal flow left to right.

circuit → testbench → layout → **placement** → kicad_sch text. The main chain is one row of
wires: the AC source ``V0`` (with the ``PWR_FLAG`` that tells ERC where ground comes from) at
the left, then each net column of ``layout`` (``in``, ``n1``, …, ``out``, each wire labelled
with its net) with the main stage between its two columns. A gm cell is drawn with its control
input C+ and output N+ on the wire, its ground pins below, its 1 MΩ ∥ 50 fF load hanging from
its output to GND, and the R/C parts of its subgraph in parallel rows above it. Side paths run
in their lanes (feed-forward above the chain, feedback below), joined to their two columns by
vertical wires; each side block sits inside one column gap of its span, and a gap is widened
until its blocks fit, so no block meets a column wire. Feedback gm cells are drawn mirrored
(output on the left). Everything is in grid units (1.27 mm); every text box is kept apart.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from math import ceil, floor

from ..circuit import Circuit
from ..subgraphs import POSITION_NAMES
from .kicad import Component, annotation, components
from .kicad_sheet import Drawing, Field, Label, Sym, Text, choose_paper, finish
from .kicad_symbols import GRID_MM, LINE_PITCH, text_width
from .layout import layout
from .spice import AC_CARD
from .testbench import GND, IN_NET, OUT_NET, SOURCE

LIB = {
    "R": "Device:R",
    "C": "Device:C",
    "G": "Simulation_SPICE:GSOURCE",
    "V": "Simulation_SPICE:VDC",
}
ROW_PITCH = 6  # between parallel rows of R/C parts
GAP = 2  # free space between lanes, and between a side block and a column wire
ORIGIN = (16, 15)  # top left corner of the notes (grid units: 20.3 mm, 19.1 mm)


# ------------------------------------------------------------------ symbols
def _sym(comp: Component, x: int, y: int, fields, angle: int = 0) -> Sym:
    return Sym(
        comp.ref, LIB[comp.kind], comp.value, x, y, angle, False, fields, comp.fields, comp.nets
    )


def _horizontal(comp: Component, cx: int, y: int, left_net: str) -> Sym:
    """An R or C lying on a wire, pin with ``left_net`` on the left; fields above it."""
    wr, wv = text_width(comp.ref), text_width(comp.value)
    fields = (
        Field("Reference", comp.ref, cx - 0.4 - wr / 2, y - 2.9),
        Field("Value", comp.value, cx + 0.4 + wv / 2, y - 2.9),
    )
    return _sym(comp, cx, y, fields, 90 if comp.nets[0] == left_net else 270)


def _side_fields(comp: Component, x: float, y: float) -> tuple[Field, ...]:
    """Reference above Value, left edges at ``x``, centred on rows ``y`` ∓ 1."""
    wr, wv = text_width(comp.ref), text_width(comp.value)
    return (
        Field("Reference", comp.ref, x + wr / 2, y - 1),
        Field("Value", comp.value, x + wv / 2, y + 1),
    )


def _fields_width(comp: Component) -> float:
    return max(text_width(comp.ref), text_width(comp.value))


def _power(d: Drawing, lib_id: str, x: int, y: int, angle: int = 0) -> None:
    """A power:GND or power:PWR_FLAG at (x, y); references are numbered once placed."""
    value = lib_id.split(":")[1]
    dy = 3 if lib_id.endswith("GND") or angle == 180 else -3
    field = Field("Value", value, x, y + dy)
    d.symbols.append(Sym("#", lib_id, value, x, y, angle, False, (field,), (), (GND,)))


def _load(d: Drawing, comp: Component, x: int) -> float:
    """A vertical load from the wire at (x, 0) to GND; returns the right edge of its fields."""
    half = 1.8 if comp.kind == "C" else 0.9
    fields = _side_fields(comp, x + half + 0.7, 3)
    d.symbols.append(_sym(comp, x, 3, fields))
    _power(d, "power:GND", x, 6)
    return x + half + 0.7 + _fields_width(comp)


# ------------------------------------------------------------------ blocks
def _row(chain: list[Component], left_net: str, right_net: str, width: int = 0) -> Drawing:
    """R/C parts in series on a wire from (0, 0) to (width, 0), centred; fields above."""
    d = Drawing()
    centres, net, prev = [], left_net, None
    for comp in chain:
        wr = text_width(comp.ref)
        if prev is None:
            cx = max(4, ceil(0.4 + wr))
        else:
            mid = prev[0] + 3 + ceil(text_width(net)) + 3  # room for the mid net's label
            cx = max(mid + 3, ceil(prev[0] + 0.4 + text_width(prev[1].value) + 1.2 + wr))
        centres.append((cx, net))
        net = comp.nets[1] if comp.nets[0] == net else comp.nets[0]
        prev = (cx, comp)
    assert net == right_net, (chain, left_net, right_net)
    natural = max(centres[-1][0] + 4, ceil(centres[-1][0] + 0.4 + text_width(chain[-1].value)))
    d.width = max(width, natural)
    shift = (d.width - natural) // 2
    x = 0
    for comp, (cx, net) in zip(chain, centres):
        cx += shift
        d.symbols.append(_horizontal(comp, cx, 0, net))
        d.wire(net, (x, 0), (cx - 3, 0))
        if x > 0:
            d.labels.append(Label(net, x + 1, 0))
        x = cx + 3
    d.wire(right_net, (x, 0), (d.width, 0))
    return d


def _chains(parts: list[Component], left_net: str) -> list[list[Component]]:
    """The R/C parts of one subgraph as rows: one series chain, or one row per part."""
    if len(parts) == 2 and set(parts[0].nets) != set(parts[1].nets):  # series R–C
        first = next(p for p in parts if left_net in p.nets)
        return [[first, *(p for p in parts if p is not first)]]
    return [[p] for p in parts]


def _rows(d: Drawing, chains, left_net, right_net, x0: int, width: int, y0: int) -> None:
    """Parallel rows from x0 to x0 + width, the first on y0, then upwards, joined at the ends."""
    for k, chain in enumerate(chains):
        d.add(_row(chain, left_net, right_net, width), x0, y0 - ROW_PITCH * k)
    top = y0 - ROW_PITCH * (len(chains) - 1)
    d.wire(left_net, (x0, y0), (x0, top))
    d.wire(right_net, (x0 + width, y0), (x0 + width, top))


def block(members: list[Component], pin_in: str, pin_out: str) -> Drawing:
    """One subgraph from its IN net at (0, 0) to its OUT net at (width, 0)."""
    parts = [c for c in members if c.kind in "RC" and not c.ref.startswith(("RL", "CL"))]
    chains = _chains(parts, pin_in)
    gm = next((c for c in members if c.kind == "G"), None)
    if gm is None:
        width = max(_row(ch, pin_in, pin_out).width for ch in chains)
        d = Drawing(width=width)
        _rows(d, chains, pin_in, pin_out, 0, width, 0)
        return d
    d = Drawing()
    a = 3  # x of the control input C+; the output N+ is at a + 4
    if chains:
        width = max(7, *(_row(ch, pin_in, pin_out).width for ch in chains))
        a = max(a, 2 + (width - 6) // 2)
        p0 = a - 1 - (width - 6) // 2
        _rows(d, chains, pin_in, pin_out, p0, width, -4)
        d.wire(pin_in, (p0, 0), (p0, -4))
        d.wire(pin_out, (p0 + width, 0), (p0 + width, -4))
    fw = _fields_width(gm)
    d.symbols.append(_sym(gm, a + 4, 4, _side_fields(gm, a + 6.7, 4)))
    d.wire(GND, (a, 8), (a + 4, 8))
    _power(d, "power:GND", a + 4, 8)
    loads = {c.ref[:2]: c for c in members if c.ref.startswith(("RL", "CL"))}
    xr = ceil(a + 6.7 + fw + 1.6)
    xc = ceil(_load(d, loads["RL"], xr) + 2.6)
    right = _load(d, loads["CL"], xc)
    d.width = max(ceil(right + 1), (p0 + width + 1) if chains else 0)
    d.wire(pin_in, (0, 0), (a, 0))
    d.wire(pin_out, (a + 4, 0), (d.width, 0))
    return d


# ------------------------------------------------------------------ the sheet
@dataclass(frozen=True)
class Sheet:
    """A placed schematic: its items (grid units from the sheet's top left corner), the
    junction dots, the paper and the title-block comments."""

    drawing: Drawing
    junctions: tuple[tuple[int, int], ...]
    paper: str
    size_mm: tuple[float, float]
    comments: tuple[str, ...]


def place(circuit: Circuit) -> Sheet:
    """Every item of the schematic of a circuit's OCB testbench, on its paper.

    Raises:
        DAGError, NetlistError: when the circuit is invalid or not an OCB-style amplifier.
    """
    tb, comps = components(circuit)
    lay = layout(circuit)
    by_node: dict[int, list[Component]] = {}
    refs = {c.ref: c for c in comps}
    for el in tb.elements:
        by_node.setdefault(el.node, []).append(refs[el.name])
    blocks = {
        i: block(by_node[i], *tb.node_nets[i]) for i in (*lay.stages, *(s.node for s in lay.sides))
    }

    main = Drawing()
    source = refs[SOURCE]
    xv = 10  # the source; its PWR_FLAG is 6 to the left, both on its ground node
    fields = _side_fields(source, xv + 2.8, 4)
    main.symbols.append(_sym(source, xv, 4, fields))
    _power(main, "power:GND", xv, 8)
    _power(main, "power:PWR_FLAG", xv - 6, 8, 180)
    main.wire(GND, (xv - 6, 8), (xv, 8))
    columns = [ceil(xv + 2.8 + _fields_width(source) + 1.5)]
    main.wire(IN_NET, (xv, 0), (columns[0], 0))

    # column gaps: each holds its main stage and the side blocks given to it
    label_zone = [2 + ceil(text_width(net)) + 2 for net in lay.nets]
    need = [label_zone[k] + blocks[node].width + GAP for k, node in enumerate(lay.stages)]
    gap_of = {}
    for side in sorted(lay.sides, key=lambda s: (-blocks[s.node].width, s.node)):
        w = blocks[side.node].width + 2 * GAP
        k = min(range(side.start, side.end), key=lambda k: (max(0, w - need[k]), k))
        need[k] = max(need[k], w)
        gap_of[side.node] = k
    for k, node in enumerate(lay.stages):
        x = columns[-1]
        natural = label_zone[k] + blocks[node].width + GAP
        start = x + label_zone[k] + (need[k] - natural) // 2
        main.add(blocks[node], start, 0)
        main.wire(lay.nets[k], (x, 0), (start, 0))
        main.labels.append(Label(lay.nets[k], x + 2, 0))
        columns.append(x + need[k])
        main.wire(lay.nets[k + 1], (start + blocks[node].width, 0), (columns[-1], 0))
    main.wire(OUT_NET, (columns[-1], 0), (columns[-1] + 2, 0))
    main.labels.append(Label(OUT_NET, columns[-1] + 2, 0))

    # lanes: outwards from the main row, each as tall as its tallest block
    top, bottom = main.extent()[1], main.extent()[3]
    lane_y: dict[tuple[bool, int], int] = {}
    for above in (True, False):
        edge = top - GAP if above else bottom + GAP
        for lane in range(1, lay.lanes(above) + 1):
            ext = [blocks[s.node].extent() for s in lay.sides if (s.above, s.lane) == (above, lane)]
            lo, hi = min(e[1] for e in ext), max(e[3] for e in ext)
            y = floor(edge - hi) if above else ceil(edge - lo)
            lane_y[above, lane] = y
            edge = y + lo - GAP if above else y + hi + GAP
    for side in lay.sides:
        b, y, k = blocks[side.node], lane_y[side.above, side.lane], gap_of[side.node]
        x = columns[k] + (columns[k + 1] - columns[k] - b.width) // 2
        mirrored = tb.node_nets[side.node][0] != lay.nets[side.start]
        main.add(b, x, y, mirror=mirrored)
        left, right = lay.nets[side.start], lay.nets[side.end]
        main.wire(left, (columns[side.start], 0), (columns[side.start], y), (x, y))
        main.wire(right, (x + b.width, y), (columns[side.end], y), (columns[side.end], 0))

    # notes on top, the drawing under them, the paper around both
    notes = Drawing()
    x0, y0 = ORIGIN
    note = _note(circuit, tb)
    notes.texts.append(Text(note, x0, y0))
    y_ac = ceil(y0 + 1.2 + LINE_PITCH * note.count("\n") + 1.5)
    notes.texts.append(Text(AC_CARD, x0, y_ac))
    ex = main.extent()
    sheet = Drawing()
    sheet.add(notes, 0, 0)
    sheet.add(main, x0 + ceil(-ex[0]) + 2, ceil(y_ac + 1.2 + 3 - ex[1]))
    _number_power(sheet)
    sheet.wires, junctions = finish(sheet)
    paper, width_mm, height_mm = choose_paper(sheet.extent(), GRID_MM)
    comments = tuple(annotation(circuit))
    return Sheet(sheet, tuple(junctions), paper, (width_mm, height_mm), comments)


def _number_power(d: Drawing) -> None:
    """#PWR01, #PWR02, … and #FLG01 in placing order."""
    count = {"power:GND": 0, "power:PWR_FLAG": 0}
    for k, s in enumerate(d.symbols):
        if s.ref == "#":
            count[s.lib_id] += 1
            prefix = "#PWR" if s.lib_id.endswith("GND") else "#FLG"
            d.symbols[k] = replace(s, ref=f"{prefix}{count[s.lib_id]:02d}")


def _note(circuit: Circuit, tb) -> str:
    lines = [
        f"cktgen-eda OCB testbench: H = V(/{OUT_NET}) / V(/{IN_NET}); "
        f"source V0 = AC 1 on /{IN_NET}.",
        "Each gm cell G<i> (a VCCS) drives its own 1 MOhm || 50 fF load RL<i>, CL<i>.",
        "Feed-forward paths run above the main chain, feedback paths below it.",
        "The title-block comments hold the circuit DAG for `cktgen-eda from-kicad`: keep them.",
    ]
    for i, nd in enumerate(circuit.nodes):
        if nd.kind.is_port:
            continue
        pin_in, pin_out = tb.node_nets[i]
        lines.append(
            f"node {i}: {nd.name} at pos {nd.pos} ({POSITION_NAMES[nd.pos]}), {pin_in} -> {pin_out}"
        )
    return "\n".join(lines)
