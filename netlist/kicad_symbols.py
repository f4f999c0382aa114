"""KiCad drawing primitives: the embedded library symbols, their geometry and the font metrics.

circuit → testbench → kicad_place → **symbols** → kicad_sch. The schematic embeds its own
copies of the stock library symbols (``Device:R``/``C``, ``Simulation_SPICE:GSOURCE``/``VDC``,
``power:GND``/``PWR_FLAG``, pins as in KiCad's libraries), so it opens without them. Placement
works in grid units of 1.27 mm on the sheet (y grows downwards); ``PINS`` and ``BOXES`` give
each symbol's pin ends and drawn extent in those units, unrotated, and ``orient`` turns them
the way KiCad does for ``(at x y angle)`` and ``(mirror y)`` (checked against kicad-cli's
netlist export). ``text_width`` is the advance of KiCad's stroke font, measured from its SVG
export, so text boxes can be kept apart before KiCad draws anything.
"""

from __future__ import annotations

from functools import cache, lru_cache

GRID_MM = 1.27  # one grid unit; every pin end, wire and label sits on this grid
FONT_MM = 1.27  # text size of fields, labels and notes
LINE_PITCH = 1.61  # line spacing of multi-line text, in text heights (KiCad: 1.61 x size)
_FONT = "(font (size 1.27 1.27))"

# Pin ends (grid units, sheet orientation, symbol unrotated) by pin number.
PINS = {
    "Device:R": {"1": (0, -3), "2": (0, 3)},
    "Device:C": {"1": (0, -3), "2": (0, 3)},
    "Simulation_SPICE:GSOURCE": {"1": (0, -4), "2": (0, 4), "3": (-4, -4), "4": (-4, 4)},
    "Simulation_SPICE:VDC": {"1": (0, -4), "2": (0, 4)},
    "power:GND": {"1": (0, 0)},
    "power:PWR_FLAG": {"1": (0, 0)},
}
# Drawn extent (x0, y0, x1, y1) of body, pins and stroke width, same frame as PINS.
BOXES = {
    "Device:R": (-0.9, -3.0, 0.9, 3.0),
    "Device:C": (-1.8, -3.0, 1.8, 3.0),
    "Simulation_SPICE:GSOURCE": (-6.1, -4.0, 2.1, 4.0),
    "Simulation_SPICE:VDC": (-2.1, -4.0, 2.1, 4.0),
    "power:GND": (-1.1, 0.0, 1.1, 2.1),
    "power:PWR_FLAG": (-0.9, -2.1, 0.9, 0.0),
}
# Where the stock library puts a power symbol's Value, relative to its pin (unrotated).
POWER_VALUE_AT = {"power:GND": (0, 3), "power:PWR_FLAG": (0, -3)}


def orient(dx: float, dy: float, angle: int, mirror: bool = False) -> tuple[float, float]:
    """A symbol-relative point as KiCad places it: ``(mirror y)`` first, then ``angle``
    degrees counter-clockwise on the sheet (90: pin 1 of an R goes from top to left)."""
    if mirror:
        dx = -dx
    for _ in range(angle // 90 % 4):
        dx, dy = dy, -dx
    return dx, dy


def oriented_box(lib_id: str, angle: int, mirror: bool) -> tuple[float, float, float, float]:
    """``BOXES[lib_id]`` turned like the symbol."""
    x0, y0, x1, y1 = BOXES[lib_id]
    pts = [orient(x, y, angle, mirror) for x, y in ((x0, y0), (x1, y1))]
    xs, ys = sorted(p[0] for p in pts), sorted(p[1] for p in pts)
    return xs[0], ys[0], xs[1], ys[1]


# Advance of each character of KiCad's stroke font at size 1.27 mm (from its SVG export's
# textLength); characters not listed count as wide as "m".
_ADVANCE_MM = {
    0.494: "`",
    0.615: "'!;:.,jiI",
    0.675: "l",
    0.736: "^ft",
    0.796: "r",
    0.857: ")([\\}{]",
    0.917: "~",
    0.978: '*T" _Jyv',
    1.038: "Lkzxs",
    1.099: "YV?ceFA",
    1.159: "onhgdbaEuqp",
    1.220: "X$ZS|9876543210",
    1.280: "#RPKGDCB",
    1.341: "UQON/Hw",
    1.462: "%WM",
    1.583: "&+>=<-",
    1.643: "@",
    1.704: "m",
}
_ADVANCE = {c: w for w, chars in _ADVANCE_MM.items() for c in chars}


@lru_cache(maxsize=4096)  # the same few hundred strings come back on every sheet
def text_width(text: str, size_mm: float = FONT_MM) -> float:
    """Width in grid units of one line of text at ``size_mm`` (KiCad's stroke font)."""
    return sum(_ADVANCE.get(c, 1.704) for c in text) * size_mm / FONT_MM / GRID_MM


# ------------------------------------------------------------------ S-expression text
def q(text: str) -> str:
    """A quoted S-expression string (backslash, quote and newline escaped as KiCad does)."""
    text = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{text}"'


@cache  # a sheet reuses a few hundred coordinates
def mm(x: float) -> str:
    """A coordinate in millimetres, shortest text (``25.4``, ``0``)."""
    text = f"{x:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def prop(name: str, value: str, x: float, y: float, hide=False, justify=None, angle=0) -> str:
    """A ``(property …)`` item at ``x``, ``y`` millimetres."""
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
def lib_symbols() -> tuple[str, ...]:
    """Embedded library symbols (KiCad 7 library shapes, pins as in the stock libraries;
    library coordinates, y up)."""
    hid, bg = dict(hide=True), "background"
    r = [
        '(symbol "Device:R" (pin_numbers hide) (pin_names (offset 0)) (in_bom yes) (on_board yes)',
        prop("Reference", "R", 2.032, 0, angle=90),
        prop("Value", "R", 0, 0, angle=90),
        prop("Footprint", "", -1.778, 0, angle=90, **hid),
        prop("Datasheet", "~", 0, 0, **hid),
        prop("ki_description", "Resistor", 0, 0, **hid),
        f'(symbol "R_0_1" (rectangle (start -1.016 -2.54) (end 1.016 2.54) {_stroke(0.254)}))',
        f'(symbol "R_1_1" {_pin("passive", "1", "~", 0, 3.81, 270, 1.27)} '
        f"{_pin('passive', '2', '~', 0, -3.81, 90, 1.27)}))",
    ]
    c = [
        '(symbol "Device:C" (pin_numbers hide) (pin_names (offset 0.254)) (in_bom yes) '
        "(on_board yes)",
        prop("Reference", "C", 0.635, 2.54, justify="left"),
        prop("Value", "C", 0.635, -2.54, justify="left"),
        prop("Footprint", "", 0.9652, -3.81, **hid),
        prop("Datasheet", "~", 0, 0, **hid),
        prop("ki_description", "Unpolarized capacitor", 0, 0, **hid),
        f'(symbol "C_0_1" {_poly((-2.032, -0.762), (2.032, -0.762), width=0.508)} '
        f"{_poly((-2.032, 0.762), (2.032, 0.762), width=0.508)})",
        f'(symbol "C_1_1" {_pin("passive", "1", "~", 0, 3.81, 270, 2.794)} '
        f"{_pin('passive', '2', '~', 0, -3.81, 90, 2.794)}))",
    ]
    g = [
        '(symbol "Simulation_SPICE:GSOURCE" (pin_numbers hide) (pin_names (offset 1.016) hide) '
        "(in_bom yes) (on_board yes)",
        prop("Reference", "G", 2.54, 2.54, justify="left"),
        prop("Value", "GSOURCE", 2.54, 0, justify="left"),
        prop("Footprint", "", 0, 0, **hid),
        prop("Datasheet", "", 0, 0, **hid),
        prop("Sim.Device", "SPICE", 0, 0, **hid),
        prop("Sim.Params", 'type="G" model="1"', 2.54, -2.54, justify="left", **hid),
        prop("Sim.Pins", "1=1 2=2 3=3 4=4", 0, 0, **hid),
        prop("ki_description", "Voltage-controlled current source", 0, 0, **hid),
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
        prop("Reference", "V", 2.54, 2.54, justify="left"),
        prop("Value", "1", 2.54, 0, justify="left"),
        prop("Footprint", "", 0, 0, **hid),
        prop("Datasheet", "", 0, 0, **hid),
        prop("Sim.Device", "V", 0, 0, **hid),
        prop("Sim.Type", "DC", 0, 0, **hid),
        prop("Sim.Pins", "1=+ 2=-", 0, 0, **hid),
        prop("ki_description", "Voltage source, DC", 0, 0, **hid),
        f'(symbol "VDC_0_1" (circle (center 0 0) (radius 2.54) {_stroke(0.254, "background")}) '
        f"{_poly((-1.27, 0.254), (1.27, 0.254))} {_poly((-1.27, -0.254), (1.27, -0.254))} "
        f'(text "+" (at 0 1.905 0) (effects {_FONT})))',
        f'(symbol "VDC_1_1" {_pin("passive", "1", "~", 0, 5.08, 270, 2.54)} '
        f"{_pin('passive', '2', '~', 0, -5.08, 90, 2.54)}))",
    ]
    gnd = [
        '(symbol "power:GND" (power) (pin_names (offset 0)) (in_bom yes) (on_board yes)',
        prop("Reference", "#PWR", 0, -6.35, **hid),
        prop("Value", "GND", 0, -3.81),
        prop("Footprint", "", 0, 0, **hid),
        prop("Datasheet", "", 0, 0, **hid),
        prop(
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
    flag = [
        '(symbol "power:PWR_FLAG" (power) (pin_numbers hide) (pin_names (offset 0) hide) '
        "(in_bom yes) (on_board yes)",
        prop("Reference", "#FLG", 0, 1.905, **hid),
        prop("Value", "PWR_FLAG", 0, 3.81),
        prop("Footprint", "", 0, 0, **hid),
        prop("Datasheet", "~", 0, 0, **hid),
        prop(
            "ki_description", "Special symbol for telling ERC where power comes from", 0, 0, **hid
        ),
        f'(symbol "PWR_FLAG_0_0" (pin power_out line (at 0 0 90) (length 0) '
        f'(name "pwr" (effects {_FONT})) (number "1" (effects {_FONT}))))',
        f'(symbol "PWR_FLAG_0_1" '
        f"{_poly((0, 0), (0, 1.27), (-1.016, 1.905), (0, 2.54), (1.016, 1.905), (0, 1.27))}))",
    ]
    return tuple("\n      ".join(block) for block in (r, c, g, v, gnd, flag))
