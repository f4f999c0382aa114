"""Exporter and simulator tables, rebuilt from the plugins' registration hooks on each read.

Part of ``cktgen_eda.plugins`` (re-exported there): ``exporters()`` backs ``generate --format``
and ``export --format``; ``simulators()`` lists ngspice and any simulator a plugin adds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import PluginError
from . import _call, _call_impl, _impls, load_plugins


@dataclass(frozen=True)
class Exporter:
    """A circuit file format: ``generate --format NAME`` and ``export --format NAME``."""

    name: str
    suffix: str
    writer: Callable[[Any], str | bytes]
    description: str = ""
    plugin: str = ""

    def write(self, circuit: Any) -> str | bytes:
        """Validate ``circuit`` and return the file contents.

        Raises:
            DAGError: the circuit is invalid. PluginError: the writer failed (names it).
        """
        circuit.validate()
        data = _call(self.writer, (circuit,), f"exporter {self.name!r}", self.plugin, lib_ok=True)
        if not isinstance(data, str | bytes):
            raise PluginError(
                f"exporter {self.name!r} of plugin {self.plugin!r} returned "
                f"{type(data).__name__}, expected str or bytes"
            )
        return data


@dataclass(frozen=True)
class Simulator:
    """A simulator; ``runner`` has the signature of ``cktgen_eda.netlist.ngspice.verify``."""

    name: str
    runner: Callable[..., list]
    description: str = ""
    plugin: str = ""

    def verify(self, items: Iterable[Any], **options: Any) -> list:
        """Run the simulator on circuits or circuit paths (one ``SimResult`` per item)."""
        what = f"simulator {self.name!r}"
        return _call(self.runner, (list(items),), what, self.plugin, options, lib_ok=True)


def exporters() -> dict[str, Exporter]:
    """Every registered exporter by name (re-read from the plugins on each call).

    Raises:
        PluginError: two plugins registered the same name, or a registration is malformed.
    """

    def make(plugin: str, name: str, suffix: str, writer: Callable, description: str = ""):
        if not (isinstance(suffix, str) and suffix.startswith(".")) or not callable(writer):
            raise PluginError(
                f"plugin {plugin!r}: exporter {name!r} needs a suffix like '.cir' and a "
                f"callable writer, found {suffix!r}, {writer!r}"
            )
        return Exporter(name, suffix, writer, description, plugin)

    return _table("register_exporters", "exporter", make)


def simulators() -> dict[str, Simulator]:
    """Every registered simulator by name; the built-in ``"ngspice"`` is always there.

    Raises:
        PluginError: two plugins registered the same name, or a registration is malformed.
    """

    def make(plugin: str, name: str, runner: Callable, description: str = ""):
        if not callable(runner):
            raise PluginError(f"plugin {plugin!r}: simulator {name!r} needs a callable runner")
        return Simulator(name, runner, description, plugin)

    return _table("register_simulators", "simulator", make)


def _table(hook: str, kind: str, make: Callable[..., Any]) -> dict[str, Any]:
    load_plugins()
    table: dict[str, Any] = {}

    def registrar(plugin: str) -> Callable[..., None]:
        def register(name: str, *args: Any, **kwargs: Any) -> None:
            if not isinstance(name, str) or not name or name.split() != [name]:
                raise PluginError(f"plugin {plugin!r}: {kind} name {name!r} must be one word")
            if name in table:
                first = table[name].plugin
                raise PluginError(
                    f"{kind} {name!r} is registered by both plugin {first!r} and {plugin!r}"
                )
            table[name] = make(plugin, name, *args, **kwargs)

        return register

    for impl in _impls(hook):
        _call_impl(impl, hook, register=registrar(impl.plugin_name))
    return table
