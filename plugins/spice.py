"""Built-in plugin: the "json" and "spice" exporters, the "ngspice" and "fast" simulators.

It uses only the public hooks (``hookspecs``), as a third-party plugin would. PySpice is
imported only when a simulation runs, so loading the plugin keeps the CLI start fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ..circuit import Circuit
from ..netlist.spice import write_spice
from . import hookimpl


def _deferred(module: str):
    """A runner with ``ngspice.verify``'s signature that imports ``module`` on first use."""

    def run(
        items: Any,
        spec: Any = None,
        workers: int | None = None,
        timeout_s: float = 10.0,
        keep_sweep: bool = False,
        progress: bool = False,
        out_node: str = "out",
    ) -> list:
        verify = import_module(module, __package__).verify
        return verify(items, spec, workers, timeout_s, keep_sweep, progress, out_node)

    run.__doc__ = f"``cktgen_eda.netlist.{module.rsplit('.', 1)[-1]}.verify``, imported on use."
    return run


ngspice = _deferred("..netlist.ngspice")
fast = _deferred("..netlist.fastac")  # the exact small-signal engine


@hookimpl
def register_exporters(register):
    register("json", ".json", Circuit.to_json, "circuit JSON (the interchange format)")
    register(
        "spice", ".cir", write_spice, "ngspice deck on the OCB testbench (from-spice reads it)"
    )


@hookimpl
def register_simulators(register):
    register("ngspice", ngspice, "libngspice via PySpice, in worker processes with a timeout")
    register("fast", fast, "exact small-signal engine (MNA pencil, batched; no simulator)")
