"""Built-in plugin: the "kicad" (schematic) and "kicad-xml" (XML netlist) exporters.

It uses only the public ``register_exporters`` hook, as a third-party plugin would. The
KiCad BOM/netlist generator script that verifies a drawn amplifier with ngspice is
``kicad_bom_verify.py`` beside this module (run by KiCad, not registered here).
"""

from __future__ import annotations

from ..netlist.kicad import write_kicad_netlist, write_kicad_sch
from . import hookimpl


@hookimpl
def register_exporters(register):
    register(
        "kicad",
        ".kicad_sch",
        write_kicad_sch,
        "KiCad 7+ schematic (simulates with KiCad's ngspice)",
    )
    register("kicad-xml", ".xml", write_kicad_netlist, "KiCad XML intermediate netlist")
