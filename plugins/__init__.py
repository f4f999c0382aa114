"""EDA-flow plugins (installed as ``cktgen_eda.plugins``): the pluggy manager and loading.

spec → model → circuits → netlist → simulator → report → **plugins**. ``load_plugins()`` runs
once, lazily: the built-ins of ``DEFAULT_PLUGINS``, which use only the public hooks of
``hookspecs``, then third-party plugins from entry-point group ``cktgen_eda`` (skipped when
``CKTGEN_EDA_LOAD_PLUGINS=0``). Built-ins come first, so no entry point can take their name.

Plugin code is not trusted to behave: whatever it raises, ``SystemExit`` and other
``BaseException``s included, is that plugin's failure. A plugin that fails to load, a hook
that raises, and a registration that is malformed or takes a name already taken are
recorded, not raised (the other plugins and the built-ins keep working): they show in
``get_plugins()`` and ``cktgen-eda plugins``, and the CLI names each failed plugin once in
a warning line on stderr. A ``KeyboardInterrupt`` counts as the plugin's too, unless SIGINT
really arrived (the user pressed Ctrl-C) while its code ran: then it propagates, and the
command stops.

Hooks are called one implementation at a time, so an exception names the plugin that
raised it. Hook wrappers are not called. The exporter and simulator tables live in
``registry`` and are re-exported here.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pluggy

from ..errors import CktGenError, PluginError
from . import hookspecs

GROUP = "cktgen_eda"
DEFAULT_PLUGINS = (
    "cktgen_eda.plugins.spice",
    "cktgen_eda.plugins.kicad",
    "cktgen_eda.plugins.diagram",
)

hookimpl = pluggy.HookimplMarker(GROUP)
pm = pluggy.PluginManager(GROUP)
pm.add_hookspecs(hookspecs)

_loaded = False
_errors: dict[str, list[str]] = {}  # plugin name -> one-line reasons (load, hooks, registrations)
_dists: dict[str, tuple[str, str]] = {}  # entry-point name -> (distribution, version)
_warned: set[str] = set()  # plugins already announced to the sink
_sink: Callable[[str], None] | None = None  # where new failures are announced (the CLI's stderr)


def load_plugins() -> None:
    """Load the built-ins, then entry-point plugins (unless ``third_party_enabled()`` says no)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for name in DEFAULT_PLUGINS:
        _load(name, lambda n: pm.register(importlib.import_module(n), name=n), name)
    if third_party_enabled():
        try:
            points = list(importlib.metadata.entry_points(group=GROUP))
        except Exception as exc:  # a malformed dist-info on sys.path
            _record("(entry points)", _one_line(exc))
            points = []
        for ep in points:
            if ep.name in DEFAULT_PLUGINS:  # listed apart, so the built-in's row stays clean
                _record(f"{ep.name} [{ep.value}]", "named like a built-in plugin; not loaded")
            else:
                _load(ep.name, _load_entry_point, ep)


_OFF = {"0", "false", "no", "off"}


def third_party_enabled() -> bool:
    """False when ``CKTGEN_EDA_LOAD_PLUGINS`` is 0, false, no or off (any case, spaces
    ignored): then only the built-in plugins load."""
    return os.environ.get("CKTGEN_EDA_LOAD_PLUGINS", "1").strip().lower() not in _OFF


def _load_entry_point(ep: importlib.metadata.EntryPoint) -> None:
    if ep.dist is not None:
        _dists[ep.name] = (str(ep.dist.name), str(ep.dist.version))
    plugin = ep.load()
    if plugin is None:  # pluggy would ignore it without a word
        raise PluginError(f"entry point {ep.value!r} is None")
    pm.register(plugin, name=ep.name)


def _load(name: str, load: Callable[..., Any], *args: Any) -> None:
    if pm.has_plugin(name) or pm.is_blocked(name) or name in _errors:
        return

    def load_and_check() -> None:
        load(*args)
        plugin = pm.get_plugin(name)
        for caller in pm.get_hookcallers(plugin) or ():
            if not caller.has_spec():
                raise PluginError(f"unknown hook {caller.name!r}")

    try:
        _call(load_and_check, (), "import", name)
    except PluginError as exc:  # a broken plugin must not take the CLI down
        if pm.get_plugin(name) is not None:
            pm.unregister(name=name)
        _record(name, _one_line(exc.__cause__ or exc))


def get_plugins() -> list[dict[str, Any]]:
    """Every plugin, loaded or failed: name, package, version, hooks, builtin, error.

    The exporter and simulator tables are built first, so their failures are listed too.
    """
    from .. import __version__

    load_plugins()
    exporters()
    simulators()
    rows = []
    for name, plugin in pm.list_name_plugin():
        if plugin is not None:
            hooks = sorted(c.name for c in pm.get_hookcallers(plugin) or ())
            rows.append(_row(name, hooks))
    rows += [_row(n, []) for n in _errors if not pm.has_plugin(n)]
    for row in rows:
        if row["builtin"]:
            row.update(package="cktgen-eda", version=__version__)
    return sorted(rows, key=lambda r: (not r["builtin"], r["name"]))


def _row(name: str, hooks: list[str]) -> dict[str, Any]:
    package, version = _dists.get(name, (None, None))
    builtin = name in DEFAULT_PLUGINS
    error = "; ".join(_errors[name]) if _errors.get(name) else None
    keys = ("name", "package", "version", "hooks", "builtin", "error")
    return dict(zip(keys, (name, package, version, hooks, builtin, error)))


def _record(plugin: str, reason: str) -> None:
    """Remember a plugin's failure (each distinct reason once)."""
    reasons = _errors.setdefault(plugin, [])
    if reason not in reasons:
        reasons.append(reason)


def load_warning() -> str | None:
    """One line naming every plugin that failed so far, or None."""
    return _warning(list(_errors))


def _warning(names: list[str]) -> str | None:
    """``warning: plugin failed: NAME (first reason[; N more]), …; see `cktgen-eda plugins```."""
    if not names:
        return None
    parts = []
    for name in names:
        first, *more = _errors[name]
        parts.append(f"{name} ({first}{f'; {len(more)} more' if more else ''})")
    return f"warning: plugin failed: {', '.join(parts)}; see `cktgen-eda plugins`"


def warn_to(sink: Callable[[str], None] | None) -> None:
    """Announce newly failed plugins to ``sink``, one line at a time (None: stay quiet).

    Each plugin is announced once per process; ``get_plugins()`` keeps every reason.
    """
    global _sink
    _sink = sink


def _announce() -> None:
    new = [name for name in _errors if name not in _warned]
    if _sink is not None and new:
        _warned.update(new)
        _sink(_warning(new))


def fire_candidates_ready(
    spec: Any,
    circuits: Iterable[Any],
    measurements: Iterable[Any] | None = None,
    out_dir: str | Path | None = None,
) -> None:
    """Hand generated candidates to every ``candidates_ready`` implementation.

    The one place the hook fires: ``generation.generate`` and ``design.design`` call it
    once per run, after their files are written, so the CLI and the Python API hand over
    the same results. Every plugin runs even when an earlier one fails; then the failures
    are raised together.

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
    """Fire ``register_commands(cli)``, one plugin at a time; failures are recorded, not raised.

    A plugin that raises loses the commands it added. A command that is not a
    ``click.Command``, or that replaces one already there (built-ins first), is dropped.

    Returns:
        ``load_warning()``: one line naming every plugin that failed so far, or None.
    """
    import click

    load_plugins()
    for impl in _impls("register_commands"):
        plugin = impl.plugin_name
        before = dict(cli.commands)
        try:
            returned = _call_impl(impl, "register_commands", cli=cli)
        except PluginError as exc:
            cli.commands.clear()
            cli.commands.update(before)
            _record(plugin, f"register_commands: {_one_line(exc.__cause__ or exc)}")
            continue
        for name, cmd in list(cli.commands.items()):
            if name in before and before[name] is cmd:
                continue
            if name in before:
                problem = f"command {name!r} already exists"
                cli.commands[name] = before[name]
            elif not isinstance(cmd, click.Command):
                problem = f"command {name!r} is {type(cmd).__name__}, not a click.Command"
                del cli.commands[name]
            else:
                continue
            _record(plugin, f"register_commands: {problem}; dropped")
        for name in sorted(set(before) - set(cli.commands)):
            cli.commands[name] = before[name]  # removed by the plugin: put back
            _record(plugin, f"register_commands: removed command {name!r}; restored")
        _check_returned(plugin, "register_commands", returned)
    _announce()
    return load_warning()


def _check_returned(plugin: str, hook: str, returned: Any) -> None:
    """Registration hooks return None; anything else is a plugin's mistake, recorded."""
    if returned is None:
        return
    if inspect.iscoroutine(returned) or inspect.isgenerator(returned):
        returned.close()  # never run; closed, so Python does not warn about it
    _record(plugin, f"{hook}: returned {type(returned).__name__}, expected None")


def _impls(hook: str) -> list[Any]:
    """The plain implementations of ``hook``, built-in plugins first, then newest first."""
    impls = getattr(pm.hook, hook).get_hookimpls()
    impls = [i for i in reversed(impls) if not (i.hookwrapper or getattr(i, "wrapper", False))]
    return sorted(impls, key=lambda i: i.plugin_name not in DEFAULT_PLUGINS)


def _call_impl(impl: Any, hook: str, **kwargs: Any) -> Any:
    args = tuple(kwargs[a] for a in impl.argnames)
    return _call(impl.function, args, hook, impl.plugin_name)


def _call(func: Callable, args: tuple, what: str, plugin: str, kwargs=None, lib_ok=False) -> Any:
    """Run plugin code; anything it raises becomes a PluginError naming the plugin.

    ``SystemExit`` and other ``BaseException``s too: a plugin must not end the process. A
    real Ctrl-C while it runs still raises ``KeyboardInterrupt`` (see ``_user_interrupts``).
    With ``lib_ok`` library errors pass through: a writer may reject a circuit with
    ``NetlistError``, and that message is the one the user needs.
    """
    with _user_interrupts():
        try:
            return func(*args, **(kwargs or {}))
        except BaseException as exc:
            if isinstance(exc, PluginError) or (lib_ok and isinstance(exc, CktGenError)):
                raise
            raise PluginError(f"plugin {plugin!r} failed in {what}: {_one_line(exc)}") from exc


@contextmanager
def _user_interrupts() -> Iterator[None]:
    """Re-raise ``KeyboardInterrupt`` on exit when SIGINT really arrived inside the block.

    Watches only where Python's own handler (or another callable one) is installed, in the
    main thread: elsewhere Ctrl-C raises nothing, so a ``KeyboardInterrupt`` is the
    plugin's own. The previous handler is restored even if the plugin replaced it.
    """
    old = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(old):
        yield
        return
    seen: list[int] = []

    def note(signum: int, frame: Any) -> None:
        seen.append(signum)
        old(signum, frame)

    signal.signal(signal.SIGINT, note)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
        if seen:
            raise KeyboardInterrupt


def _one_line(exc: BaseException) -> str:
    """``Type: first line of the message`` (at most 200 characters), whatever ``str`` does."""
    try:
        lines = str(exc).strip().splitlines()
    except BaseException:  # a hostile __str__
        lines = []
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


from .registry import (  # noqa: E402
    Exporter,
    Simulator,
    exporters,
    get_exporter,
    get_simulator,
    simulators,
)

__all__ = [
    "DEFAULT_PLUGINS",
    "Exporter",
    "Simulator",
    "exporters",
    "fire_candidates_ready",
    "get_exporter",
    "get_plugins",
    "get_simulator",
    "hookimpl",
    "load_plugins",
    "pm",
    "register_plugin_commands",
    "simulators",
    "third_party_enabled",
    "warn_to",
]
