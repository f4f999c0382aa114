"""The hooks a cktgen-eda plugin can implement (pluggy project and entry-point group cktgen_eda).

spec → model → circuits → netlist → simulator → report → **plugins**. Hooks receive plain
data (``Circuit``, ``Spec``, ``Measurement``, paths), never model or trainer internals. A
plugin implements any subset, marking each function with ``cktgen_eda.plugins.hookimpl``
and naming only the arguments it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from cktgen_eda.circuit import Circuit
    from cktgen_eda.spec import Spec

hookspec = pluggy.HookspecMarker("cktgen_eda")


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add click commands (or groups) to the ``cktgen-eda`` command group.

    Fires once, when the CLI module is imported, after every built-in command exists.
    ``cli`` is the top-level ``click.Group``; use ``@cli.command()`` on your functions. A
    plugin that raises here loses the commands it added and is reported by ``cktgen-eda
    plugins``; the CLI still starts. A command that would replace an existing one (a
    built-in's, say) is dropped and reported the same way.
    """


@hookspec
def register_exporters(register: Callable[..., None]) -> None:
    """Offer circuit file formats to ``generate --format`` and ``export --format``.

    Fires each time the exporter table is read (``cktgen_eda.plugins.exporters()``).
    Call ``register(name, suffix, writer, description="")`` once per format: ``name`` is
    the ``--format`` value, ``suffix`` the file suffix with its dot (``".cir"``) and
    ``writer(circuit: Circuit) -> str | bytes`` turns one validated ``Circuit`` into the
    file's contents. ``register`` never raises: a malformed call, or a name already taken
    (built-ins register first and keep theirs), is dropped and reported by ``cktgen-eda
    plugins``, as is everything a hook registered before it raised.
    """


@hookspec
def register_simulators(register: Callable[..., None]) -> None:
    """Offer circuit simulators beside ngspice (Xyce, Spectre, a surrogate, …).

    Fires each time the simulator table is read (``cktgen_eda.plugins.simulators()``).
    Call ``register(name, runner, description="")``; ``runner`` has the signature of
    ``cktgen_eda.netlist.ngspice.verify``: ``runner(items, spec=None, workers=None,
    timeout_s=10.0, keep_sweep=False, progress=False, out_node="out") -> list[SimResult]``,
    one result per item (``Circuit`` objects or circuit file paths), in order. Bad
    registrations are dropped and reported as for ``register_exporters``.
    """


@hookspec
def candidates_ready(
    spec: Spec | None,
    circuits: list[Circuit],
    measurements: list[Any],
    out_dir: Path | None,
) -> None:
    """Receive the results of ``generate`` (and ``design``) to hand to the next EDA step.

    Fires once per run, after the candidates are written and the result is printed.
    ``spec`` is the target (None for ``--spec-class``), ``circuits`` the valid candidates
    in ranked order (each ``circuit.meta["index"]`` is the number in its
    ``candidate_NNN`` file name), ``measurements`` the matching ngspice ``Measurement``
    objects (None entries when not verified) and ``out_dir`` the ``--out`` folder (None
    when nothing was written). An exception becomes a ``PluginError`` naming the plugin.
    """
