"""Exporter and simulator tables, rebuilt from the plugins' registration hooks on each read.

Part of ``cktgen_eda.plugins`` (re-exported there): ``exporters()`` backs every file a
circuit is written to (``generate --out-dir --format``, ``design --out-dir``, ``export --format``);
``simulators()`` backs every simulation the library runs (``verify``, ``generate --verify``,
``design``, ``evaluate``): the built-in ``ngspice`` and ``fast`` and any simulator a plugin
adds. ``get_exporter(name)`` and ``get_simulator(name)`` look one up by name.

Each plugin's registrations are taken on their own, built-in plugins first: a plugin whose
hook raises loses all it registered in that call; a malformed registration, or one whose
name is taken (the built-ins' names always are), is dropped. Both are recorded against the
plugin (``get_plugins()``, ``cktgen-eda plugins``), and the rest of the table stands.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import CktGenError, PluginError
from . import (
    _announce,
    _call,
    _call_impl,
    _check_returned,
    _impls,
    _one_line,
    _record,
    load_plugins,
)

# A file suffix: the dot, then no path separators (candidates are written as NAME + suffix).
_SUFFIX = re.compile(r"\.[\w.+-]{1,32}")


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
        """Run the simulator on circuits or circuit paths (one ``SimResult`` per item).

        Raises:
            PluginError: the runner failed, or did not return one ``SimResult`` per item.
        """
        from ..netlist.ngspice import SimResult

        items = list(items)
        what = f"simulator {self.name!r}"
        results = _call(self.runner, (items,), what, self.plugin, options, lib_ok=True)
        if not (
            isinstance(results, list)
            and len(results) == len(items)
            and all(isinstance(r, SimResult) for r in results)
        ):
            found = type(results).__name__
            if isinstance(results, list):
                bad = sorted({type(r).__name__ for r in results if not isinstance(r, SimResult)})
                found = f"{len(results)} results" + (f" with {', '.join(bad)}" if bad else "")
            raise PluginError(
                f"{what} of plugin {self.plugin!r} returned {found}, "
                f"expected a list of {len(items)} SimResult"
            )
        return results


def exporters() -> dict[str, Exporter]:
    """Every registered exporter by name (re-read from the plugins on each call).

    A failing, malformed or clashing registration is left out and recorded (see the module).
    """

    def make(plugin: str, name: str, suffix: str, writer: Callable, description: str = ""):
        if not (isinstance(suffix, str) and _SUFFIX.fullmatch(suffix)):
            raise PluginError(f"needs a file suffix like '.cir', found {_short(suffix)}")
        if not callable(writer):
            raise PluginError(f"needs a callable writer, found {_short(writer)}")
        return Exporter(name, suffix, writer, _text(description), plugin)

    return _table("register_exporters", "exporter", make)


def simulators() -> dict[str, Simulator]:
    """Every registered simulator by name; the built-in ``"ngspice"`` is always there.

    A failing, malformed or clashing registration is left out and recorded (see the module).
    """

    def make(plugin: str, name: str, runner: Callable, description: str = ""):
        if not callable(runner):
            raise PluginError(f"needs a callable runner, found {_short(runner)}")
        return Simulator(name, runner, _text(description), plugin)

    return _table("register_simulators", "simulator", make)


def get_exporter(name: str) -> Exporter:
    """The exporter registered as ``name``.

    Raises:
        CktGenError: no exporter has that name (the message lists the known ones).
    """
    return _lookup(exporters(), name, "format")


def get_simulator(name: str) -> Simulator:
    """The simulator registered as ``name`` (``"ngspice"``, ``"fast"`` or a plugin's).

    Raises:
        CktGenError: no simulator has that name (the message lists the known ones).
    """
    return _lookup(simulators(), name, "simulator")


def _lookup(table: dict[str, Any], name: str, kind: str) -> Any:
    if name not in table:
        known = ", ".join(sorted(table)) or "none"
        raise CktGenError(f"unknown {kind} {_short(name)}; known {kind}s: {known}")
    return table[name]


def _table(hook: str, kind: str, make: Callable[..., Any]) -> dict[str, Any]:
    load_plugins()
    table: dict[str, Any] = {}
    for impl in _impls(hook):  # built-ins first: their names are never taken from them
        plugin = impl.plugin_name
        offered: dict[str, Any] = {}
        register = _registrar(plugin, hook, kind, make, table, offered)
        try:
            returned = _call_impl(impl, hook, register=register)
        except PluginError as exc:  # a half-run hook: none of its registrations count
            _record(plugin, f"{hook}: {_one_line(exc.__cause__ or exc)}")
            continue
        table.update(offered)
        _check_returned(plugin, hook, returned)
    _announce()
    return table


def _registrar(
    plugin: str, hook: str, kind: str, make: Callable[..., Any], table: dict, offered: dict
) -> Callable[..., None]:
    """The ``register`` callback one plugin gets; a bad call is recorded, never raised."""

    def register(name: Any = None, *args: Any, **kwargs: Any) -> None:
        if not (isinstance(name, str) and name.split() == [name] and len(name) <= 64):
            problem = f"{kind} name {_short(name)} must be one word"
        elif name in table or name in offered:
            owner = table[name].plugin if name in table else plugin
            problem = f"{kind} {name!r} is already registered by plugin {owner!r}"
        else:
            try:
                offered[name] = make(plugin, name, *args, **kwargs)
                return
            except PluginError as exc:
                problem = f"{kind} {name!r} {exc}"
            except Exception as exc:  # a wrong call: missing or unknown arguments
                problem = f"{kind} {name!r}: {_one_line(exc)}"
        _record(plugin, f"{hook}: {problem}; dropped")

    return register


def _text(description: Any) -> str:
    if not isinstance(description, str):
        raise PluginError(f"needs a str description, found {_short(description)}")
    return description


def _short(value: Any) -> str:
    """A repr safe to put in a one-line message (hostile or huge reprs included)."""
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:59] + "…"
