"""Options shared by the commands, and the house naming rules (public: plugin commands use them).

Names: ``-o/--output FILE`` for a file, ``--out-dir DIR`` for a folder, ``--out-node NET`` (and
``--in-node``) for a circuit net. Older spellings stay for one release as hidden aliases that
print one deprecation line (``renamed``). Heavy modules are imported only when an option is
used, so ``--help`` stays instant.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import click

__all__ = [
    "OBJECTIVE_CHOICES",
    "TEMPERATURE_RANGE",
    "ClusterAddress",
    "EngineChoice",
    "ExporterChoice",
    "RegistryChoice",
    "allow_unstable_option",
    "cluster_option",
    "emit",
    "engine_option",
    "force_option",
    "in_node_option",
    "model_option",
    "objective_option",
    "out_dir_option",
    "out_node_option",
    "out_option",
    "renamed",
    "spec_option_value",
    "temperature_option",
    "workers_option",
]


def emit(text: str, out: Path | None, force: bool) -> None:
    """Write to ``out`` atomically (refusing to overwrite without ``force``) or to stdout."""
    if out is None:
        click.echo(text, nl=False)
        return
    from ..fileio import atomic_write

    atomic_write(out, text, force=force)
    click.echo(f"wrote {out}", err=True)


out_option = click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file (atomically) instead of stdout.",
)
force_option = click.option("--force", is_flag=True, help="Overwrite an existing output file.")
workers_option = click.option(
    "--workers", type=click.IntRange(1, 64), help="Simulator processes [default: 2]."
)
allow_unstable_option = click.option(
    "--allow-unstable",
    is_flag=True,
    help="Judge the spec by the benchmark's raw convention (same as 'stable=any' in the "
    "spec): PM at the first crossing referenced to +180°, no stability check. Default: a "
    "pass needs a stable amplifier, open loop and at unity gain, with gain above 0 dB and "
    "the loop phase margin.",
)
model_option = click.option(
    "--model",
    "model_name",
    metavar="NAME|PATH",
    help="Shipped model name or checkpoint [default: stable101; `cktgen-eda models` lists them].",
)


def out_dir_option(help: str, default: Path | None = None):
    """``--out-dir DIR`` (parameter ``out_dir``), with ``--out`` as its old spelling."""

    def decorate(f):
        f = renamed("--out", "--out-dir", "out_dir", type=click.Path(path_type=Path))(f)
        return click.option(
            "--out-dir",
            "out_dir",
            metavar="DIR",
            type=click.Path(file_okay=False, path_type=Path),
            default=default,
            show_default=default is not None,
            help=help,
        )(f)

    return decorate


def out_node_option(help: str, old: str = "--out", default: str = "out"):
    """``--out-node NET`` (parameter ``out_node``), with ``old`` as its old spelling."""
    return _node_option("out", help, old, default)


def in_node_option(help: str, old: str = "--in-net", default: str = "in"):
    """``--in-node NET`` (parameter ``in_node``), with ``old`` as its old spelling."""
    return _node_option("in", help, old, default)


def _node_option(end: str, help: str, old: str, default: str):
    name, dest = f"--{end}-node", f"{end}_node"

    def decorate(f):
        f = renamed(old, name, dest)(f)
        return click.option(
            name, dest, metavar="NET", default=default, show_default=True, help=help
        )(f)

    return decorate


def renamed(old: str, new: str, dest: str, **option: Any):
    """Keep ``old``, the former spelling of option ``new``, for one release: hidden from
    ``--help``, it sets parameter ``dest`` and prints one deprecation line on stderr."""
    hidden = "old_" + old.lstrip("-").replace("-", "_") + "_for_" + dest

    def decorate(f):
        @functools.wraps(f)
        def command(*args: Any, **kwargs: Any):
            value = kwargs.pop(hidden)
            if value is not None:
                click.echo(f"warning: {old} is deprecated; use {new}", err=True)
                kwargs[dest] = value
            return f(*args, **kwargs)

        return click.option(old, hidden, hidden=True, default=None, **option)(command)

    return decorate


# sizing.OBJECTIVES, spelled out so that --help does not import numpy and torch
OBJECTIVE_CHOICES = ("power", "margin", "fom")


def objective_option(default: str, what: str):
    """``--objective`` of size, generate and design; ``what`` opens the help text."""
    return click.option(
        "--objective",
        type=click.Choice(OBJECTIVE_CHOICES),
        default=default,
        show_default=True,
        help=f"{what}: power = least total |gm|; margin = the centre of the spec box; fom = "
        "the benchmark's figure of merit.",
    )


# generation.MAX_TEMPERATURE, spelled out so that --help does not import the model code
TEMPERATURE_RANGE = click.FloatRange(0, 10, min_open=True)

temperature_option = click.option(
    "--temperature",
    type=TEMPERATURE_RANGE,
    metavar="T",
    help="The decoder's sampling temperature: below 1 keeps closer to the model's most "
    "likely circuits (more of them stable, fewer distinct topologies), 1 samples the "
    "trained distribution [default: the model's own; stable101 0.5, others 1; "
    "docs/training.md].",
)


def spec_option_value(spec_text: str | None, allow_unstable: bool):
    """The ``Spec`` of ``--spec`` text with ``--allow-unstable`` applied (None without text)."""
    from dataclasses import replace

    from ..spec import parse_spec

    if spec_text is None:
        if allow_unstable:
            raise click.UsageError("--allow-unstable needs --spec")
        return None
    spec = parse_spec(spec_text)
    return replace(spec, require_stable=False) if allow_unstable else spec


class _OneLineUsageError(click.ClickException):
    exit_code = 2  # a usage error, shown as one line


class RegistryChoice(click.ParamType):
    """A name from a plugin registry (``exporters`` or ``simulators``), looked up when used
    so plugins count; an unknown name is a one-line usage error listing the known ones."""

    def __init__(self, name: str, table: str, metavar: str | None = None) -> None:
        self.name, self.table, self.metavar = name, table, metavar

    def _known(self) -> dict:
        from .. import plugins

        return getattr(plugins, self.table)()

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        from ..errors import CktGenError

        if self.metavar:
            return self.metavar
        try:
            return "[" + "|".join(sorted(self._known())) + "]"
        except CktGenError:
            return "NAME"

    def convert(self, value, param, ctx) -> str:
        known = self._known()
        if value not in known:
            raise _OneLineUsageError(
                f"unknown {self.name} {value!r}; known {self.name}s: {', '.join(sorted(known))}"
            )
        return value


def EngineChoice() -> RegistryChoice:  # noqa: N802 (reads as the type it returns)
    """``--engine NAME``: a registered simulator."""
    return RegistryChoice("engine", "simulators", metavar="NAME")


def ExporterChoice() -> RegistryChoice:  # noqa: N802
    """``--format NAME``: a registered exporter."""
    return RegistryChoice("format", "exporters")


def engine_option(what: str):
    """``--engine NAME`` (default ngspice) of generate and design; ``what`` opens the help."""
    return click.option(
        "--engine",
        "simulator",
        metavar="NAME",
        type=EngineChoice(),
        default="ngspice",
        show_default=True,
        help=f"{what}: ngspice, fast (the exact small-signal engine) or a plugin's simulator.",
    )


class ClusterAddress(click.ParamType):
    """``--cluster ADDRESS``: ``tcp://host:port``, ``host:port`` or ``local:N``, checked for
    its form only (no dask import); a malformed one is a one-line usage error."""

    name = "cluster"

    def convert(self, value, param, ctx) -> str:
        from ..netlist.cluster import parse_address

        try:
            parse_address(value)
        except ValueError as exc:
            raise _OneLineUsageError(f"--cluster {value!r}: {exc}") from None
        return value.strip()


cluster_option = click.option(
    "--cluster",
    metavar="ADDRESS",
    type=ClusterAddress(),
    help="Run the ngspice simulations on a Dask cluster: a scheduler's tcp://HOST:PORT (or "
    "HOST:PORT), or local:N for a local cluster of N worker processes [default: "
    "$CKTGEN_EDA_DASK_SCHEDULER, else local processes (--workers); docs/scaling.md].",
)
