"""cktgen-eda: specification-conditioned op-amp generation, proven with ngspice.

The top-level package stays light: importing it never loads torch, PySpice or the
netlist layer. Heavier entry points are re-exported lazily (PEP 562 ``__getattr__``).
"""

from __future__ import annotations

import sys
import types

__version__ = "0.1.0"

from .circuit import Circuit, Node, load_circuit
from .errors import (
    CktGenError,
    DAGError,
    NetlistError,
    PluginError,
    SimulationError,
    SpecError,
)
from .spec import Spec, parse_spec

__all__ = [
    "__version__",
    "Circuit",
    "Node",
    "load_circuit",
    "Spec",
    "parse_spec",
    "CktGenError",
    "DAGError",
    "NetlistError",
    "PluginError",
    "SimulationError",
    "SpecError",
    "to_spice",
    "from_spice",
    "verify",
    "use_cluster",
    "generate",
    "design",
    "size",
    "load_model",
    "hookimpl",
    "to_kicad",
    "from_kicad",
]

# name -> (module, attribute); imported on first use so `import cktgen_eda` stays fast.
_LAZY = {
    "to_spice": ("cktgen_eda.netlist.spice", "write_spice"),
    "from_spice": ("cktgen_eda.netlist.spice", "from_spice"),
    "verify": ("cktgen_eda.netlist.ngspice", "verify"),
    "use_cluster": ("cktgen_eda.netlist.cluster", "use_cluster"),
    "generate": ("cktgen_eda.generation", "generate"),
    "size": ("cktgen_eda.sizing", "size"),
    "load_model": ("cktgen_eda.training.checkpoint", "load_model"),
    "hookimpl": ("cktgen_eda.plugins", "hookimpl"),
    "to_kicad": ("cktgen_eda.netlist.kicad", "write_kicad_sch"),
    "from_kicad": ("cktgen_eda.netlist.kicad", "read_kicad_netlist"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'cktgen_eda' has no attribute {name!r}")


class _Package(types.ModuleType):
    """``ck.design`` is the design function although ``cktgen_eda.design`` is also a module.

    Importing a submodule binds it as an attribute of its package, which would replace a
    plain ``design`` attribute (or bypass ``__getattr__``) the first time anything imports
    ``cktgen_eda.design``. A property on the module's class wins over that binding; the
    submodule stays importable as ``cktgen_eda.design`` through ``sys.modules``.
    """

    @property
    def design(self):
        from .design import design

        return design

    @design.setter
    def design(self, module: types.ModuleType) -> None:  # the import system's binding
        pass


sys.modules[__name__].__class__ = _Package
