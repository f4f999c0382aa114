"""``cktgen-eda plugins`` and ``export``; registers plugin commands once the CLI is built."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..errors import CktGenError
from ..plugins import exporters, get_plugins, register_plugin_commands, warn_to
from . import cli
from .options import ExporterChoice, emit, force_option, out_option


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def plugins(as_json: bool) -> None:
    """List the installed plugins: name, version, hooks and load errors.

    Built-in plugins come first. Third-party plugins are found through the `cktgen_eda`
    entry-point group; set CKTGEN_EDA_LOAD_PLUGINS=0 to turn them off.

    \b
    Example:
      cktgen-eda plugins --json
    """
    rows = get_plugins()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = [("name", "version", "hooks")]
    for r in rows:
        hooks = f"FAILED: {r['error']}" if r["error"] else ", ".join(r["hooks"]) or "-"
        table.append((r["name"], r["version"] or "-", hooks))
    widths = [max(len(row[k]) for row in table) for k in range(2)]
    for name, version, hooks in table:
        click.echo(f"{name:<{widths[0]}}  {version:<{widths[1]}}  {hooks}")


class _ExportCommand(click.Command):
    """Lists the registered formats, with their suffix and description, under --help."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        try:
            rows = [(e.name, f"{e.suffix:<6} {e.description}") for e in exporters().values()]
        except CktGenError as exc:
            rows = [("(error)", str(exc))]
        with formatter.section("Formats"):
            formatter.write_dl(sorted(rows))
        super().format_epilog(ctx, formatter)


@cli.command("export", cls=_ExportCommand)
@click.argument("circuit", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=ExporterChoice(),
    help="Output format; default: the one whose suffix matches -o.",
)
@out_option
@force_option
def export(circuit: Path, fmt: str | None, out: Path | None, force: bool) -> None:
    """Write a circuit JSON file in any registered format (plugins add formats).

    Without --format the format is the one whose file suffix matches -o.

    \b
    Examples:
      cktgen-eda export amp.json --format spice -o amp.cir
      cktgen-eda export amp.json -o amp.cir
    """
    from ..circuit import load_circuit

    known = exporters()
    if fmt is None:
        match = [e.name for e in known.values() if out is not None and e.suffix == out.suffix]
        if len(match) != 1:
            names = ", ".join(sorted(known))
            raise click.UsageError(f"give --format (known formats: {names})")
        fmt = match[0]
    emit(known[fmt].write(load_circuit(circuit)), out, force)


# Plugin commands come last, after every built-in command exists. A plugin that fails (to
# load, here or in a later hook) is named in one warning line on stderr, once, and in
# `cktgen-eda plugins`. A real Ctrl-C while plugins load ends the run as click would.
warn_to(lambda line: click.echo(line, err=True))
try:
    register_plugin_commands(cli)
except KeyboardInterrupt:
    click.echo("Aborted!", err=True)
    sys.exit(1)
