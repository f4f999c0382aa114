"""EDA-flow plugins (installed as ``cktgen_eda.plugins``): the pluggy manager and loading.

spec → model → circuits → netlist → simulator → report → **plugins**. ``load_plugins()`` runs
once, lazily: third-party plugins from entry-point group ``cktgen_eda`` (skipped when
``CKTGEN_EDA_LOAD_PLUGINS=0``), then the built-ins of ``DEFAULT_PLUGINS``, which use only the
public hooks of ``hookspecs``. A plugin that fails to load is recorded, not raised: it shows in
``get_plugins()`` and ``cktgen-eda plugins``, and the CLI prints one warning line.

Hooks are called one implementation at a time (newest registration first, as pluggy orders
them), so an exception names the plugin that raised it. Hook wrappers are not called.
The exporter and simulator tables live in ``registry`` and are re-exported here.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pluggy

from ..errors import CktGenError, PluginError
from . import hookspecs

GROUP = "cktgen_eda"
DEFAULT_PLUGINS = ("cktgen_eda.plugins.spice", "cktgen_eda.plugins.kicad")

hookimpl = pluggy.HookimplMarker(GROUP)
pm = pluggy.PluginManager(GROUP)
pm.add_hookspecs(hookspecs)

_loaded = False
_errors: dict[str, str] = {}  # plugin name -> one-line error (load or command registration)
_dists: dict[str, tuple[str, str]] = {}  # entry-point name -> (distribution, version)


def load_plugins() -> None:
    """Load entry-point plugins (unless ``third_party_enabled()`` says no), then the built-ins."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    if third_party_enabled():
        for ep in importlib.metadata.entry_points(group=GROUP):
            if ep.dist is not None:
                _dists[ep.name] = (ep.dist.name, ep.dist.version)
            _load(ep.name, pm.load_setuptools_entrypoints, GROUP, ep.name)
    for name in DEFAULT_PLUGINS:
        _load(name, lambda n: pm.register(importlib.import_module(n), name=n), name)


_OFF = {"0", "false", "no", "off"}


def third_party_enabled() -> bool:
    """False when ``CKTGEN_EDA_LOAD_PLUGINS`` is 0, false, no or off (any case, spaces
    ignored): then only the built-in plugins load."""
    return os.environ.get("CKTGEN_EDA_LOAD_PLUGINS", "1").strip().lower() not in _OFF


def _load(name: str, load: Callable[..., Any], *args: Any) -> None:
    if pm.has_plugin(name) or pm.is_blocked(name):
        return
    try:
        load(*args)
        plugin = pm.get_plugin(name)
        for caller in pm.get_hookcallers(plugin) or ():
            if not caller.has_spec():
                raise PluginError(f"unknown hook {caller.name!r}")
    except Exception as exc:  # a broken plugin must not take the CLI down
        if pm.get_plugin(name) is not None:
            pm.unregister(name=name)
        _errors[name] = _one_line(exc)


def get_plugins() -> list[dict[str, Any]]:
    """Every plugin, loaded or failed: name, package, version, hooks, builtin, error."""
    from .. import __version__

    load_plugins()
    rows = []
    for name, plugin in pm.list_name_plugin():
        if plugin is not None:
            hooks = sorted(c.name for c in pm.get_hookcallers(plugin) or ())
            rows.append(_row(name, hooks, _errors.get(name)))
    rows += [_row(n, [], e) for n, e in _errors.items() if not pm.has_plugin(n)]
    for row in rows:
        if row["builtin"]:
            row.update(package="cktgen-eda", version=__version__)
    return sorted(rows, key=lambda r: (not r["builtin"], r["name"]))


def _row(name: str, hooks: list[str], error: str | None) -> dict[str, Any]:
    package, version = _dists.get(name, (None, None))
    builtin = name in DEFAULT_PLUGINS
    keys = ("name", "package", "version", "hooks", "builtin", "error")
    return dict(zip(keys, (name, package, version, hooks, builtin, error)))


def load_warning() -> str | None:
    """One line naming the plugins that failed to load or register commands, or None."""
    if not _errors:
        return None
    names = ", ".join(f"{n} ({e})" for n, e in _errors.items())
    return f"warning: plugin failed: {names}; see `cktgen-eda plugins`"


def fire_candidates_ready(
    spec: Any,
    circuits: Iterable[Any],
    measurements: Iterable[Any] | None = None,
    out_dir: str | Path | None = None,
) -> None:
    """Hand generated candidates to every ``candidates_ready`` implementation.

    Every plugin runs even when an earlier one fails; then the failures are raised together.

    Raises:
        PluginError: one or more plugins raised (the message names each of them).
    """
    circuits = list(circuits)
    measurements = [None] * len(circuits) if measurements is None else list(measurements)
    if len(measurements) != len(circuits):
        raise CktGenError(f"{len(circuits)} circuits but {len(measurements)} measurements")
    out_dir = None if out_dir is None else Path(out_dir)
    args = {"spec": spec, "circuits": circuits, "measurements": measurements, "out_dir": out_dir}
    errors = []
    for impl in _impls("candidates_ready"):
        try:
            _call_impl(impl, "candidates_ready", **args)
        except PluginError as exc:
            errors.append(exc)
    if errors:
        raise PluginError("; ".join(map(str, errors))) from errors[0]


def register_plugin_commands(cli: Any) -> str | None:
    """Fire ``register_commands(cli)``; a failing plugin is recorded, not raised.

    Returns:
        ``load_warning()``: one line naming every plugin that failed so far, or None.
    """
    load_plugins()
    for impl in _impls("register_commands"):
        try:
            _call_impl(impl, "register_commands", cli=cli)
        except PluginError as exc:
            _errors[impl.plugin_name] = f"register_commands: {_one_line(exc.__cause__ or exc)}"
    return load_warning()


def _impls(hook: str) -> list[Any]:
    impls = getattr(pm.hook, hook).get_hookimpls()
    return [i for i in reversed(impls) if not (i.hookwrapper or getattr(i, "wrapper", False))]


def _call_impl(impl: Any, hook: str, **kwargs: Any) -> Any:
    args = tuple(kwargs[a] for a in impl.argnames)
    return _call(impl.function, args, hook, impl.plugin_name)


def _call(func: Callable, args: tuple, what: str, plugin: str, kwargs=None, lib_ok=False) -> Any:
    """Run plugin code; an exception becomes a PluginError naming the plugin.

    With ``lib_ok`` library errors pass through: a writer may reject a circuit with
    ``NetlistError``, and that message is the one the user needs.
    """
    try:
        return func(*args, **(kwargs or {}))
    except PluginError:
        raise
    except Exception as exc:
        if lib_ok and isinstance(exc, CktGenError):
            raise
        raise PluginError(f"plugin {plugin!r} failed in {what}: {_one_line(exc)}") from exc


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


from .registry import Exporter, Simulator, exporters, simulators  # noqa: E402

__all__ = [
    "DEFAULT_PLUGINS",
    "Exporter",
    "Simulator",
    "exporters",
    "fire_candidates_ready",
    "get_plugins",
    "hookimpl",
    "load_plugins",
    "pm",
    "register_plugin_commands",
    "simulators",
]
