"""What a KiCad schematic sheet holds, in grid units: symbols, wires, labels, notes, paper.

circuit → testbench → kicad_place → **sheet** → kicad_sch text. The items are plain frozen
dataclasses in grid units of 1.27 mm (y grows downwards), so the same data gives the file and
the geometric checks: ``boxes`` lists the drawn extent of every symbol body and text (from the
symbol shapes and the font metrics of ``kicad_symbols``) and ``overlaps`` finds any two that
touch. ``Drawing`` collects the items of a block or of a whole sheet; ``finish`` turns the wires
of each net into KiCad's form (one segment between connection points, a junction dot where
three or more wire ends and pins meet) and ``choose_paper`` picks the smallest ISO sheet that
holds everything clear of the frame and the title block.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from math import ceil

from .kicad_symbols import LINE_PITCH, PINS, orient, oriented_box, text_width

TEXT_HALF = 0.65  # half the drawn height of one text line (grid units, size 1.27 mm)
# Landscape ISO sheets (mm) and KiCad's default frame: border 12 mm in from the edge, the
# title block in the lower right corner, 108 x 32 mm inside the border.
PAPERS = (
    ("A4", 297.0, 210.0),
    ("A3", 420.0, 297.0),
    ("A2", 594.0, 420.0),
    ("A1", 841.0, 594.0),
    ("A0", 1189.0, 841.0),
)
FRAME_MM, TITLE_BLOCK_MM, MARGIN_MM = 12.0, (108.0, 32.0), 4.0

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Field:
    """A visible field of a symbol (Reference or Value), centred on ``(x, y)``."""

    name: str
    value: str
    x: float
    y: float


@dataclass(frozen=True)
class Sym:
    """A placed symbol; ``nets`` gives the net of each pin, in pin-number order."""

    ref: str
    lib_id: str
    value: str
    x: int
    y: int
    angle: int = 0
    mirror: bool = False
    fields: tuple[Field, ...] = ()
    sim: tuple[tuple[str, str], ...] = ()  # hidden fields (Sim.*)
    nets: tuple[str, ...] = ()

    def pins(self) -> dict[str, tuple[int, int]]:
        """Pin number → pin end on the sheet."""
        out = {}
        for number, (dx, dy) in PINS[self.lib_id].items():
            ox, oy = orient(dx, dy, self.angle, self.mirror)
            out[number] = (self.x + round(ox), self.y + round(oy))
        return out

    def box(self) -> Box:
        x0, y0, x1, y1 = oriented_box(self.lib_id, self.angle, self.mirror)
        return (self.x + x0, self.y + y0, self.x + x1, self.y + y1)


@dataclass(frozen=True)
class Wire:
    net: str
    x1: int
    y1: int
    x2: int
    y2: int


@dataclass(frozen=True)
class Label:
    """A local net label at a point of a wire; its text runs right, just above the wire."""

    net: str
    x: int
    y: int


@dataclass(frozen=True)
class Text:
    """A note, anchored at its top left corner."""

    text: str
    x: float
    y: float


def field_box(f: Field) -> Box:
    w = text_width(f.value)
    return (f.x - w / 2, f.y - TEXT_HALF, f.x + w / 2, f.y + TEXT_HALF)


def label_box(lb: Label) -> Box:
    return (lb.x, lb.y - 1.6, lb.x + 0.3 + text_width(lb.net), lb.y - 0.1)


def text_box(t: Text) -> Box:
    lines = t.text.split("\n")
    height = 2 * TEXT_HALF + (len(lines) - 1) * LINE_PITCH
    # top-justified stroke text starts a little above its anchor (KiCad's SVG export)
    return (t.x, t.y - 0.4, t.x + max(map(text_width, lines)), t.y + height)


@dataclass
class Drawing:
    """Items of a block or a sheet under construction (grid units)."""

    symbols: list[Sym] = field(default_factory=list)
    wires: list[Wire] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)
    width: int = 0  # a block's right terminal is (width, 0), its left one (0, 0)

    def wire(self, net: str, *pts: tuple[int, int]) -> None:
        """Wires of ``net`` along a polyline."""
        for (x1, y1), (x2, y2) in zip(pts, pts[1:]):
            if (x1, y1) != (x2, y2):
                self.wires.append(Wire(net, x1, y1, x2, y2))

    def add(self, block: Drawing, dx: int, dy: int, mirror: bool = False) -> None:
        """Copy a block's items here, moved by (dx, dy), mirrored left-right first if asked."""
        w = block.width

        def fx(x):
            return (w - x if mirror else x) + dx

        for s in block.symbols:
            angle, flip = s.angle, s.mirror
            if mirror and s.angle in (90, 270):
                angle = 360 - s.angle  # a horizontal R or C: its pins change sides
            elif mirror and s.lib_id.endswith("GSOURCE"):
                flip = not flip
            fields = tuple(Field(f.name, f.value, fx(f.x), f.y + dy) for f in s.fields)
            if mirror and len(fields) == 2 and fields[0].y == fields[1].y:
                fields = _reading_order(fields)
            self.symbols.append(
                Sym(s.ref, s.lib_id, s.value, fx(s.x), s.y + dy, angle, flip, fields, s.sim, s.nets)
            )
        for wr in block.wires:
            self.wires.append(Wire(wr.net, fx(wr.x1), wr.y1 + dy, fx(wr.x2), wr.y2 + dy))
        for lb in block.labels:
            x = fx(lb.x) - (ceil(text_width(lb.net)) if mirror else 0)  # keep the text on its wire
            self.labels.append(Label(lb.net, x, lb.y + dy))
        for t in block.texts:
            self.texts.append(Text(t.text, t.x + dx, t.y + dy))

    def extent(self) -> Box:
        """The box around everything drawn (wires included)."""
        boxes = [b for _, _, b in boxes_of(self.symbols, self.labels, self.texts)]
        boxes += [
            (min(w.x1, w.x2), min(w.y1, w.y2), max(w.x1, w.x2), max(w.y1, w.y2)) for w in self.wires
        ]
        return (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )


def _reading_order(fields: tuple[Field, ...]) -> tuple[Field, ...]:
    """Two fields on one line, mirrored: put them back in their order (Reference first)
    within the same span, so a mirrored "C2 500f" does not read "500f C2"."""
    (a, b), (ax0, _, _, _), (bx0, _, bx1, _) = fields, field_box(fields[0]), field_box(fields[1])
    if ax0 < bx0:
        return fields
    wa, wb = text_width(a.value), text_width(b.value)
    gap = ax0 - bx1
    return (replace(a, x=bx0 + wa / 2), replace(b, x=bx0 + wa + gap + wb / 2))


def boxes_of(symbols, labels, texts) -> list[tuple[str, str, Box]]:
    """(kind, name, box) of every symbol body, visible field, label and note."""
    out = []
    for s in symbols:
        out.append(("symbol", s.ref, s.box()))
        out += [("field", f"{s.ref}.{f.name}", field_box(f)) for f in s.fields]
    out += [("label", lb.net, label_box(lb)) for lb in labels]
    out += [("text", t.text.split("\n")[0], text_box(t)) for t in texts]
    return out


def overlaps(boxes: list[tuple[str, str, Box]], gap: float = 0.0) -> list[tuple[str, str]]:
    """Names of every two boxes closer than ``gap`` (a field is allowed on its own symbol)."""
    found = []
    ordered = sorted(boxes, key=lambda b: b[2][0])
    for i, (ka, na, a) in enumerate(ordered):
        for kb, nb, b in ordered[i + 1 :]:
            if b[0] >= a[2] + gap:
                break
            if b[1] < a[3] + gap and a[1] < b[3] + gap:
                found.append((f"{ka} {na}", f"{kb} {nb}"))
    return found


def crossings(d: Drawing, eps: float = 0.05) -> list[str]:
    """Every wire that runs through a symbol body or a text (touching an edge is allowed:
    that is where a wire meets a pin)."""
    found = []
    for kind, name, (bx0, by0, bx1, by1) in boxes_of(d.symbols, d.labels, d.texts):
        for w in d.wires:
            (x0, x1), (y0, y1) = sorted((w.x1, w.x2)), sorted((w.y1, w.y2))
            if x0 == x1:
                hit = bx0 + eps < x0 < bx1 - eps and y0 < by1 - eps and by0 + eps < y1
            else:
                hit = by0 + eps < y0 < by1 - eps and x0 < bx1 - eps and bx0 + eps < x1
            if hit:
                found.append(f"wire of {w.net} through {kind} {name}")
    return found


def problems(d: Drawing, size_mm: tuple[float, float], grid_mm: float) -> list[str]:
    """What would make the sheet hard to read: boxes that overlap, wires through symbols
    or texts, anything outside the frame or on the title block."""
    boxes = boxes_of(d.symbols, d.labels, d.texts)
    out = [f"{a} overlaps {b}" for a, b in overlaps(boxes)] + crossings(d)
    w, h = size_mm
    tb_w, tb_h = TITLE_BLOCK_MM
    for kind, name, (x0, y0, x1, y1) in boxes:
        x0, y0, x1, y1 = (v * grid_mm for v in (x0, y0, x1, y1))
        if x0 < FRAME_MM or y0 < FRAME_MM or x1 > w - FRAME_MM or y1 > h - FRAME_MM:
            out.append(f"{kind} {name} outside the frame")
        if x1 > w - FRAME_MM - tb_w and y1 > h - FRAME_MM - tb_h:
            out.append(f"{kind} {name} on the title block")
    return out


def finish(d: Drawing) -> tuple[list[Wire], list[tuple[int, int]]]:
    """Wires merged and split at every connection point of their net; junction points.

    Wires of one net that overlap are merged; each is then split wherever a wire end, a pin
    or a label of the same net lies on it, so every connection is at wire ends (as KiCad's
    editor leaves them). A junction dot goes where three or more wire ends and pins meet.
    """
    points: dict[str, set[tuple[int, int]]] = {}
    for s in d.symbols:
        for (_, xy), net in zip(sorted(s.pins().items()), s.nets):
            points.setdefault(net, set()).add(xy)
    for lb in d.labels:
        points.setdefault(lb.net, set()).add((lb.x, lb.y))
    runs: dict[tuple[str, bool, int], list[list[int]]] = {}
    for w in d.wires:
        points.setdefault(w.net, set()).update({(w.x1, w.y1), (w.x2, w.y2)})
        flat = w.y1 == w.y2
        if not flat and w.x1 != w.x2:
            raise AssertionError(f"wire not horizontal or vertical: {w}")
        key = (w.net, flat, w.y1 if flat else w.x1)
        lo, hi = sorted((w.x1, w.x2) if flat else (w.y1, w.y2))
        runs.setdefault(key, []).append([lo, hi])
    wires = []
    for (net, flat, at), spans in sorted(runs.items()):
        spans.sort()
        merged = [spans[0]]
        for lo, hi in spans[1:]:
            if lo <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        for lo, hi in merged:
            cuts = sorted(
                {lo, hi}
                | {(x if flat else y) for x, y in points[net] if (y if flat else x) == at}
                & set(range(lo, hi + 1))
            )
            for a, b in zip(cuts, cuts[1:]):
                wires.append(Wire(net, a, at, b, at) if flat else Wire(net, at, a, at, b))
    ends: dict[tuple[int, int], int] = {}
    for w in wires:
        for xy in ((w.x1, w.y1), (w.x2, w.y2)):
            ends[xy] = ends.get(xy, 0) + 1
    for s in d.symbols:
        for xy in s.pins().values():
            if xy in ends:
                ends[xy] += 1
    return wires, sorted(xy for xy, n in ends.items() if n >= 3)


def choose_paper(extent: Box, grid_mm: float) -> tuple[str, float, float]:
    """The smallest landscape ISO sheet whose frame holds ``extent`` (grid units, from the
    sheet's top left corner) clear of the title block; A0 when none does."""
    x0, y0, x1, y1 = (v * grid_mm for v in extent)
    tb_w, tb_h = TITLE_BLOCK_MM
    for name, w, h in PAPERS:
        inside = x1 <= w - FRAME_MM - MARGIN_MM and y1 <= h - FRAME_MM - MARGIN_MM
        clear = y1 <= h - FRAME_MM - tb_h - MARGIN_MM or x1 <= w - FRAME_MM - tb_w - MARGIN_MM
        if inside and clear:
            return name, w, h
    return PAPERS[-1]
