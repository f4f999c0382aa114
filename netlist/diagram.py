"""Circuit diagrams without KiCad: SVG text written by our own code, PNG through matplotlib.

circuit → testbench → layout → **diagram**. ``draw`` places the picture on the signal-flow grid
of ``layout``: the input source at the left, one box per main stage between the columns of the
nets it joins, each gm cell's 1 MΩ ∥ 50 fF load in a box under its stage, feed-forward side
paths above the chain and feedback ones below, in their lanes, and an output terminal at the
right. Each box carries the subgraph's type name and its device values in engineering units.
Every side box sits inside one column gap of its span and wires run vertically only on net
columns, so no wire crosses a box; a gap is as wide as its widest box.

The ``Diagram`` (lines, circles, boxes, texts) is the one source of both renderings:
``write_svg`` gives byte-identical SVG for equal circuits (no dependency, no ids, no dates);
``write_png`` draws the same primitives with matplotlib (imported only then). Text is
monospace, so its extent is known without a font engine; the tests check on ``Diagram`` that
no two boxes or labels overlap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

from ..circuit import Circuit
from ..subgraphs import (
    GM_LOAD_C_F,
    GM_LOAD_R_OHM,
    MAIN_POSITIONS,
    POSITION_NAMES,
    SIDE_POSITIONS,
)
from .layout import layout
from .testbench import build_testbench
from .units import SI_PREFIXES

FONT = "DejaVu Sans Mono, Menlo, Consolas, monospace"
CHAR_W = 0.61  # advance of one monospace character per unit of font size (DejaVu: 0.602)
SIZE, SMALL, TITLE = 12.0, 10.0, 14.0  # font sizes in user units (px)
LINE = 16.0  # line pitch inside boxes
PAD = 7.0  # text padding inside a box
MARGIN = 30.0  # free space between a box and the net column on either side
GAP = 22.0  # vertical space between rows (chain, loads, lanes)
EDGE = 24.0  # page border
SOURCE_DX = 60.0  # the input source sits this far left of column 0
STYLE = {  # box role → (fill, stroke)
    "main": ("#eef4fb", "#3a6ea5"),
    "feed-forward": ("#eefaf0", "#3b8a4a"),
    "feedback": ("#fdf0ee", "#b5523b"),
    "load": ("#f4f4f4", "#777777"),
}


@dataclass(frozen=True)
class Text:
    """One text line; ``(x, y)`` is the anchor point on the baseline."""

    x: float
    y: float
    text: str
    size: float = SIZE
    anchor: str = "start"  # start | middle | end
    bold: bool = False
    colour: str = "#222222"

    def bbox(self) -> tuple[float, float, float, float]:
        """``(x0, y0, x1, y1)`` from the monospace advance, ascent 0.8 and descent 0.25 em."""
        w = len(self.text) * CHAR_W * self.size
        x0 = self.x - {"start": 0.0, "middle": w / 2, "end": w}[self.anchor]
        return (x0, self.y - 0.8 * self.size, x0 + w, self.y + 0.25 * self.size)


@dataclass(frozen=True)
class Box:
    """One labelled rectangle: a subgraph (``node`` its index) or a gm load."""

    x: float
    y: float
    w: float
    h: float
    role: str  # a key of STYLE
    node: int

    def bbox(self) -> tuple[float, float, float, float]:
        return (self.x, self.y, self.x + self.w, self.y + self.h)


@dataclass
class Diagram:
    """Everything drawn, in SVG user units (y grows downwards)."""

    width: float = 0.0
    height: float = 0.0
    title: str = ""
    lines: list[tuple[float, float, float, float]] = field(default_factory=list)
    dots: list[tuple[float, float]] = field(default_factory=list)  # wire junctions
    circles: list[tuple[float, float, float]] = field(default_factory=list)  # (cx, cy, r)
    boxes: list[Box] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)


def eng(value: float, unit: str, digits: int = 4) -> str:
    """``1.2e6, "Ω"`` → ``"1.2 MΩ"``: ``digits`` significant digits, femto to tera."""
    if value == 0:
        return f"0 {unit}"
    for exp, prefix in sorted(SI_PREFIXES.items(), reverse=True):
        scale = float(f"1e{exp}")
        if abs(value) >= scale * (1 - 0.5 * 10.0 ** (1 - digits)):  # 999.96 k → 1 M
            return f"{value / scale:.{digits}g} {'µ' if exp == -6 else prefix}{unit}"
    return f"{value:.{digits}g} {unit}"


LOAD_TEXT = f"{eng(GM_LOAD_R_OHM, 'Ω')} ‖ {eng(GM_LOAD_C_F, 'F')}"  # ‖: ∥ is not in DejaVu Mono


def _box_lines(circuit: Circuit, i: int, arrow: str, load_net: str | None) -> list[Text]:
    """The text lines of node ``i``'s box (positions filled in by ``_place``)."""
    nd = circuit.nodes[i]
    out = [
        Text(0, 0, f"node {i} · {POSITION_NAMES[nd.pos]}", SMALL, colour="#666666"),
        Text(0, 0, nd.name, bold=True),
    ]
    if nd.r is not None:
        out.append(Text(0, 0, f"R {eng(nd.r, 'Ω')}"))
    if nd.c is not None:
        out.append(Text(0, 0, f"C {eng(nd.c, 'F')}"))
    if nd.gm is not None:
        sign = "−" if nd.kind.gm_sign < 0 else "+"
        out.append(Text(0, 0, f"gm {sign}{eng(nd.gm, 'S')} {arrow}"))
    if load_net is not None:
        out.append(Text(0, 0, f"load {LOAD_TEXT} at {load_net}", SMALL, colour="#666666"))
    return out


def _size(lines: list[Text]) -> tuple[float, float]:
    width = max(t.bbox()[2] - t.bbox()[0] for t in lines)
    return width + 2 * PAD, len(lines) * LINE + 2 * PAD - 4


def _place(d: Diagram, lines: list[Text], x: float, cy: float, role: str, node: int) -> Box:
    """Put a box of ``lines`` centred on ``(x, cy)`` into ``d``; returns it."""
    w, h = _size(lines)
    box = Box(x - w / 2, cy - h / 2, w, h, role, node)
    d.boxes.append(box)
    for k, t in enumerate(lines):
        y = box.y + PAD + (k + 1) * LINE - 4
        d.texts.append(Text(x, y, t.text, t.size, "middle", t.bold, t.colour))
    return box


def title_of(circuit: Circuit) -> str:
    """``meta`` name/file/source, else ``candidate K`` with its model and class, else the
    shape (``3-stage amplifier, 2 side paths``); then the circuit's spec when it carries
    one. Printable characters only, at most 120."""
    meta = dict(circuit.meta or {})
    parts = [str(meta[k]) for k in ("name", "file", "source") if isinstance(meta.get(k), str)]
    if not parts and isinstance(meta.get("index"), int):
        parts.append(f"candidate {meta['index']:03d}")
        parts += [f"model {meta['model']}"] if isinstance(meta.get("model"), str) else []
        cls = meta.get("spec_class")
        parts += [f"class {tuple(cls)}"] if isinstance(cls, list) else []
    if not parts:
        stages = sum(nd.pos in MAIN_POSITIONS for nd in circuit.nodes)
        sides = sum(nd.pos in SIDE_POSITIONS for nd in circuit.nodes)
        parts.append(f"{stages}-stage amplifier, {sides} side path{'s' * (sides != 1)}")
    spec = circuit.spec or {}
    units = (("gain_db", "gain {:.4g} dB"), ("ugf_hz", "UGF {}"), ("pm_deg", "PM {:.4g}°"))
    for key, fmt in units:
        if key in spec:
            parts.append(fmt.format(eng(spec[key], "Hz") if key == "ugf_hz" else spec[key]))
    text = "".join(ch for ch in " · ".join(parts) if ch.isprintable())
    return text if len(text) <= 120 else text[:119] + "…"


def draw(circuit: Circuit, title: str | None = None) -> Diagram:
    """Place the diagram of a valid OCB-style circuit (``title`` defaults to ``title_of``).

    Raises:
        DAGError, NetlistError: when the circuit is not a valid OCB-style amplifier.
    """
    lay, tb = layout(circuit), build_testbench(circuit)
    col = {net: k for k, net in enumerate(lay.nets)}
    side_of = {s.node: s for s in lay.sides}

    def content(i: int) -> list[Text]:
        pin_in, pin_out = (col[n] for n in tb.node_nets[i])
        arrow = "→" if pin_in < pin_out else "←"
        has_gm = circuit.nodes[i].kind.has_gm
        load = lay.nets[pin_out] if has_gm and i in side_of else None
        return _box_lines(circuit, i, arrow, load)

    # column gaps: gap k (1-based) lies between columns k−1 and k and holds stage k, its
    # load and at most one side box per lane (a lane's paths have disjoint spans)
    gap_of = {s.node: (s.start + s.end + 1) // 2 for s in lay.sides}
    items = {i: content(i) for i in (*lay.stages, *side_of)}
    load_lines = [Text(0, 0, "gm load", SMALL, colour="#666666"), Text(0, 0, LOAD_TEXT)]
    widths = [0.0] * lay.columns
    for i, lines in items.items():
        k = gap_of.get(i, lay.stages.index(i) + 1 if i in lay.stages else 0)
        widths[k] = max(widths[k], _size(lines)[0])
    widths = [max(w, _size(load_lines)[0]) for w in widths]
    x = [EDGE + SOURCE_DX + 70.0]
    for k in range(1, lay.columns):
        x.append(x[-1] + widths[k] + 2 * MARGIN)

    # rows: feed-forward lanes (farthest first), the chain, the loads, feedback lanes
    def lane_h(above: bool, lane: int) -> float:
        hs = [_size(items[s.node])[1] for s in lay.sides if s.above == above and s.lane == lane]
        return max(hs, default=0.0)

    d = Diagram(title=title if title is not None else title_of(circuit))
    y = EDGE + 2 * TITLE
    lane_y: dict[tuple[bool, int], float] = {}
    for lane in range(lay.lanes(True), 0, -1):
        lane_y[True, lane] = y + lane_h(True, lane) / 2
        y += lane_h(True, lane) + GAP
    main_h = max(_size(items[i])[1] for i in lay.stages)
    y0 = y + max(main_h / 2, 2 * SIZE)
    load_h = _size(load_lines)[1]
    load_y = y0 + main_h / 2 + GAP + load_h / 2
    y = load_y + load_h / 2 + 14 + GAP  # below the loads' ground symbols
    for lane in range(1, lay.lanes(False) + 1):
        lane_y[False, lane] = y + lane_h(False, lane) / 2
        y += lane_h(False, lane) + GAP
    y = max(y, y0 + 62 + GAP)  # room for the source and its ground

    d.texts.append(Text(EDGE, EDGE + TITLE, d.title, TITLE, bold=True))
    # main chain: stage k between columns k−1 and k, its load under it
    for k, i in enumerate(lay.stages, start=1):
        box = _place(d, items[i], (x[k - 1] + x[k]) / 2, y0, "main", i)
        d.lines += [(x[k - 1], y0, box.x, y0), (box.x + box.w, y0, x[k], y0)]
        if circuit.nodes[i].kind.has_gm:
            load = _place(d, load_lines, (x[k - 1] + x[k]) / 2, load_y, "load", i)
            d.lines += [(x[k], y0, x[k], load_y), (x[k], load_y, load.x + load.w, load_y)]
            _ground(d, load.x + load.w / 2, load.y + load.h)
    # side paths: up (or down) from their start column, along the lane, back to the end column
    for s in lay.sides:
        ly, k = lane_y[s.above, s.lane], gap_of[s.node]
        role = "feed-forward" if s.above else "feedback"
        box = _place(d, items[s.node], (x[k - 1] + x[k]) / 2, ly, role, s.node)
        d.lines += [(x[s.start], y0, x[s.start], ly), (x[s.start], ly, box.x, ly)]
        d.lines += [(box.x + box.w, ly, x[s.end], ly), (x[s.end], ly, x[s.end], y0)]
    _junctions(d, circuit, lay, x, y0, lane_y, load_y)
    # net names above each node, left of it (clear of the wires going up and down)
    for k, net in enumerate(lay.nets):
        d.texts.append(Text(x[k] - 4, y0 - 5, net, SMALL, "end", colour="#3a6ea5"))
    # input source, output terminal
    xs = x[0] - SOURCE_DX
    d.lines += [(xs, y0, x[0], y0), (xs, y0, xs, y0 + 16)]
    d.circles.append((xs, y0 + 30, 14.0))
    d.lines += [(xs - 7, y0 + 30, xs - 2, y0 + 25), (xs - 2, y0 + 25, xs + 2, y0 + 35)]
    d.lines += [(xs + 2, y0 + 35, xs + 7, y0 + 30), (xs, y0 + 44, xs, y0 + 48)]  # "~" in it
    _ground(d, xs, y0 + 48)
    d.texts += [Text(xs - 20, y0 + 28, "V0", SMALL, "end")]
    d.texts += [Text(xs - 20, y0 + 40, "AC 1 V", SMALL, "end")]
    xo = x[-1] + 44
    d.lines.append((x[-1], y0, xo - 4, y0))
    d.circles.append((xo, y0, 4.0))
    d.texts.append(Text(xo + 8, y0 + 4, "V(out)", SIZE))
    note = "+gm/−gm: type sign (+gm inverts); →/←: gm from IN to OUT pin; loads to ground"
    d.texts.append(Text(EDGE, y + SMALL, note, SMALL, colour="#666666"))
    right = max(t.bbox()[2] for t in d.texts)
    d.width = round(max(right, xo + 60) + EDGE)
    d.height = round(y + SMALL + EDGE)
    return d


def _ground(d: Diagram, x: float, y: float) -> None:
    """A ground symbol hanging from ``(x, y)``: a short lead and three bars (14 units tall)."""
    d.lines.append((x, y, x, y + 6))
    for k, half in enumerate((8.0, 5.0, 2.0)):
        d.lines.append((x - half, y + 6 + 4 * k, x + half, y + 6 + 4 * k))


def _junctions(d: Diagram, circuit: Circuit, lay, x: list, y0: float, lane_y: dict, load_y: float):
    """A dot where three or more wires meet: on the chain where a side path or a load
    branches off, and on a column's vertical wire where a load or a nearer lane turns off."""
    for k in range(lay.columns):
        load = k > 0 and circuit.nodes[lay.stages[k - 1]].kind.has_gm
        if load or any(k in (s.start, s.end) for s in lay.sides):
            d.dots.append((x[k], y0))
        if load and any(not s.above and k in (s.start, s.end) for s in lay.sides):
            d.dots.append((x[k], load_y))
        for above in (True, False):
            lanes = sorted(
                {s.lane for s in lay.sides if s.above == above and k in (s.start, s.end)}
            )
            d.dots += [(x[k], lane_y[above, lane]) for lane in lanes[:-1]]


# ------------------------------------------------------------------ rendering
def _n(v: float) -> str:
    """A coordinate as short, stable text: one decimal at most."""
    text = f"{v:.1f}"
    return text[:-2] if text.endswith(".0") else text


def write_svg(circuit: Circuit, title: str | None = None) -> str:
    """The circuit diagram as SVG text (byte-identical for equal circuits)."""
    d = draw(circuit, title)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_n(d.width)}" height="{_n(d.height)}"'
        f' viewBox="0 0 {_n(d.width)} {_n(d.height)}" font-family={quoteattr(FONT)}>',
        f"<title>{escape(d.title)}</title>",
        f'<rect width="{_n(d.width)}" height="{_n(d.height)}" fill="#ffffff"/>',
        '<g stroke="#222222" stroke-width="1.4" fill="none" stroke-linecap="square">',
    ]
    out += [
        f'<line x1="{_n(a)}" y1="{_n(b)}" x2="{_n(c)}" y2="{_n(e)}"/>' for a, b, c, e in d.lines
    ]
    out += [f'<circle cx="{_n(a)}" cy="{_n(b)}" r="{_n(r)}"/>' for a, b, r in d.circles]
    out.append("</g>")
    out += [f'<circle cx="{_n(a)}" cy="{_n(b)}" r="3" fill="#222222"/>' for a, b in d.dots]
    for b in d.boxes:
        fill, stroke = STYLE[b.role]
        out.append(
            f'<rect x="{_n(b.x)}" y="{_n(b.y)}" width="{_n(b.w)}" height="{_n(b.h)}" rx="4"'
            f' fill="{fill}" stroke="{stroke}" stroke-width="1.4"/>'
        )
    for t in d.texts:
        weight = ' font-weight="bold"' if t.bold else ""
        out.append(
            f'<text x="{_n(t.x)}" y="{_n(t.y)}" font-size="{_n(t.size)}" text-anchor="{t.anchor}"'
            f' fill="{t.colour}"{weight}>{escape(t.text)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_png(circuit: Circuit, title: str | None = None, dpi: int = 150) -> bytes:
    """The same diagram as PNG bytes, drawn by matplotlib (Agg) from ``draw``'s primitives.

    One SVG unit is 1/100 inch, so ``dpi`` 150 gives 1.5 pixels per unit.
    """
    import io

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle, FancyBboxPatch

    d = draw(circuit, title)
    fig = Figure(figsize=(d.width / 100, d.height / 100), dpi=dpi, facecolor="white")
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, d.width)
    ax.set_ylim(d.height, 0)
    ax.set_axis_off()
    lw = 1.4 * 0.72  # SVG units → points (1 unit = 1/100 in = 0.72 pt)
    for a, b, c, e in d.lines:
        ax.plot((a, c), (b, e), color="#222222", lw=lw, solid_capstyle="projecting")
    for a, b, r in d.circles:
        ax.add_patch(Circle((a, b), r, fill=False, ec="#222222", lw=lw))
    for a, b in d.dots:
        ax.add_patch(Circle((a, b), 3, color="#222222"))
    for bx in d.boxes:
        fill, stroke = STYLE[bx.role]
        style = "round,pad=0,rounding_size=4"
        ax.add_patch(FancyBboxPatch((bx.x, bx.y), bx.w, bx.h, style, fc=fill, ec=stroke, lw=lw))
    align = {"start": "left", "middle": "center", "end": "right"}
    for t in d.texts:
        weight = "bold" if t.bold else "normal"
        ax.text(t.x, t.y, t.text, fontsize=t.size * 0.72, ha=align[t.anchor], va="baseline",
                family="monospace", weight=weight, color=t.colour)  # fmt: skip
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()
