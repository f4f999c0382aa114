"""Built-in plugin: the "svg" and "png" circuit-diagram exporters (no KiCad needed).

It uses only the public ``register_exporters`` hook, as a third-party plugin would. The
drawing is ``netlist/diagram.py``: the signal-flow layout of ``netlist/layout.py`` written
as plain SVG by our own code (byte-identical for equal circuits), and the same primitives
drawn by matplotlib for PNG (matplotlib is imported only when a PNG is written).
"""

from __future__ import annotations

from ..netlist.diagram import write_png, write_svg
from . import hookimpl


@hookimpl
def register_exporters(register):
    register("svg", ".svg", write_svg, "circuit diagram, signal-flow layout (SVG)")
    register("png", ".png", write_png, "the same circuit diagram as a PNG image")
