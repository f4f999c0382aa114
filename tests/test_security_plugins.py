"""Plugins are third-party code: whatever one does at import or in a hook, the built-ins and
the other plugins keep working, the failure is named, and no traceback reaches the user."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import click
import pluggy
import pytest
from click.testing import CliRunner
from helpers import EXAMPLES

from cktgen_eda import plugins as plugin_layer
from cktgen_eda.cli import cli
from cktgen_eda.netlist.spice import write_spice
from cktgen_eda.plugins import hookimpl, hookspecs

AMP = EXAMPLES / "two_stage_miller.json"
BUILTIN_FORMATS = {"json", "spice", "kicad", "kicad-xml"}

# Module bodies that end the import with a BaseException (or an unprintable Exception).
IMPORT_FAILURES = {
    "exits": ("import sys\nsys.exit(3)\n", "SystemExit: 3"),
    "interrupts": ("raise KeyboardInterrupt\n", "KeyboardInterrupt"),
    "closes": ("raise GeneratorExit('bye')\n", "GeneratorExit: bye"),
    "custom": ("class Boom(BaseException):\n    pass\nraise Boom('custom')\n", "Boom: custom"),
    "unprintable": (
        "class Odd(Exception):\n    def __str__(self):\n        raise RuntimeError\nraise Odd\n",
        "Odd",
    ),
}


def write_entry_points(folder: Path, **modules: str) -> None:
    """One installed distribution per plugin: NAME = NAME_plugin in group cktgen_eda."""
    for name, code in modules.items():
        module = name.replace(".", "_") + "_plugin"
        (folder / f"{module}.py").write_text(textwrap.dedent(code))
        dist = folder / f"{module}-1.0.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
        (dist / "entry_points.txt").write_text(f"[cktgen_eda]\n{name} = {module}\n")


def plugin_env(folder: Path) -> dict[str, str]:
    """The environment of a ``cktgen-eda`` run that finds the plugins in ``folder``."""
    path = os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "CKTGEN_EDA_LOAD_PLUGINS": "1", "PYTHONPATH": path}


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """An empty plugin manager with third-party loading on; returns the entry-point folder.

    Everything the plugin layer caches is replaced for the test and put back after it.
    """
    manager = pluggy.PluginManager(plugin_layer.GROUP)
    manager.add_hookspecs(hookspecs)
    monkeypatch.setattr(plugin_layer, "pm", manager)
    monkeypatch.setattr(plugin_layer, "_loaded", False)
    monkeypatch.setattr(plugin_layer, "_errors", {})
    monkeypatch.setattr(plugin_layer, "_dists", {})
    monkeypatch.setattr(plugin_layer, "_warned", set(), raising=False)
    monkeypatch.setenv("CKTGEN_EDA_LOAD_PLUGINS", "1")
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(folder)):
            del sys.modules[name]


def invoke(*args) -> click.testing.Result:
    try:
        result = CliRunner().invoke(cli, [str(a) for a in args])
    except BaseException as exc:  # the old code let these out: a failure, not a stopped run
        pytest.fail(f"{type(exc).__name__} escaped the CLI: {exc!r}")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        pytest.fail(f"traceback: {result.exception!r}\n{result.output}")
    return result


def rows() -> dict[str, dict]:
    r = invoke("plugins", "--json")
    assert r.exit_code == 0, r.output
    return {p["name"]: p for p in json.loads(r.stdout)}


def assert_builtins_work(tmp_path: Path) -> None:
    assert BUILTIN_FORMATS <= set(plugin_layer.exporters())
    assert {"ngspice", "fast"} <= set(plugin_layer.simulators())
    r = invoke("to-spice", AMP)
    assert r.exit_code == 0 and ".end" in r.output, r.output
    r = invoke("to-kicad", AMP, "-o", tmp_path / "amp.kicad_sch", "--force")
    assert r.exit_code == 0 and (tmp_path / "amp.kicad_sch").exists(), r.output
    r = invoke("export", AMP, "--format", "kicad-xml")
    assert r.exit_code == 0 and "<export" in r.output, r.output
    r = invoke("generate", "--help")  # the --format choices are read from the exporters
    [line] = [ln for ln in r.stdout.splitlines() if "--format [" in ln]
    assert BUILTIN_FORMATS <= set(line.split("[")[1].split("]")[0].split("|"))


# --------------------------------------------------------------- 1. import ends the process
def test_plugins_that_end_the_process_at_import_are_skipped_and_named_once(tmp_path):
    write_entry_points(tmp_path, **{n: code for n, (code, _) in IMPORT_FAILURES.items()})
    env = plugin_env(tmp_path)
    cmd = [sys.executable, "-m", "cktgen_eda", "export", str(AMP), "--format", "spice"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0 and "\n.end\n" in done.stdout, done.stderr
    assert "Traceback" not in done.stderr
    [warning] = done.stderr.splitlines()
    assert warning.startswith("warning: plugin failed: ")
    for name, (_, reason) in IMPORT_FAILURES.items():
        assert f"{name} ({reason})" in warning


@pytest.mark.parametrize("name", IMPORT_FAILURES)
def test_base_exception_at_import_is_that_plugins_failure(fresh, tmp_path, name):
    code, reason = IMPORT_FAILURES[name]
    write_entry_points(fresh, **{name: code, "fine": GOOD_PLUGIN})
    row = rows()[name]
    assert row["error"] == reason and row["version"] == "1.0" and not row["builtin"]
    assert rows()["fine"]["error"] is None
    assert "good-fmt" in plugin_layer.exporters()
    assert_builtins_work(tmp_path)


def test_a_real_ctrl_c_while_a_plugin_loads_still_stops_the_command(tmp_path):
    """A KeyboardInterrupt the plugin raises is its failure (above); the user's is not."""
    # to this thread, and a sleep the handler interrupts: the signal is handled inside the try
    code = "import signal, threading, time\ntry:\n"
    code += "    signal.pthread_kill(threading.get_ident(), signal.SIGINT)\n"
    code += "    time.sleep(30)\nexcept KeyboardInterrupt:\n    pass\n"
    write_entry_points(tmp_path, swallows=code)
    env = plugin_env(tmp_path)
    cmd = [sys.executable, "-m", "cktgen_eda", "to-spice", str(AMP)]
    # A shell starts background jobs with SIGINT ignored, and children inherit that (then no
    # Ctrl-C can arrive at all); this run needs the usual disposition.
    done = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip() == "Aborted!"


# ------------------------------------------------------- 2. a failing or clashing hook
GOOD_PLUGIN = """
from cktgen_eda.plugins import hookimpl

@hookimpl
def register_exporters(register):
    register("good-fmt", ".good", lambda circuit: "good\\n", "a format that works")

@hookimpl
def register_simulators(register):
    register("good-sim", lambda items, **options: [])
"""


class FailingHooks:
    """Registers something, then fails: none of it may count."""

    @hookimpl
    def register_exporters(self, register):
        register("lost-fmt", ".lost", str)
        raise RuntimeError("exporter table on fire")

    @hookimpl
    def register_simulators(self, register):
        register("lost-sim", lambda items, **options: [])
        sys.exit(4)


class Clashing:
    """Takes the built-ins' names (and one of its own twice)."""

    @hookimpl
    def register_exporters(self, register):
        register("spice", ".sp", lambda circuit: "hijacked")
        register("kicad", ".sch", lambda circuit: "hijacked")
        register("own-fmt", ".own", lambda circuit: "own")
        register("own-fmt", ".own2", lambda circuit: "own again")

    @hookimpl
    def register_simulators(self, register):
        register("ngspice", lambda items, **options: [])


def test_a_failing_registration_hook_loses_only_its_own_entries(fresh, tmp_path):
    write_entry_points(fresh, fine=GOOD_PLUGIN)
    plugin_layer.pm.register(FailingHooks(), name="failing")
    formats, engines = plugin_layer.exporters(), plugin_layer.simulators()
    assert "good-fmt" in formats and "lost-fmt" not in formats
    assert "good-sim" in engines and "lost-sim" not in engines
    error = rows()["failing"]["error"]
    assert "register_exporters: RuntimeError: exporter table on fire" in error
    assert "register_simulators: SystemExit: 4" in error
    text = invoke("plugins").output  # the table shows the plugin and why
    assert "failing" in text and "FAILED: register_exporters: RuntimeError" in text
    assert_builtins_work(tmp_path)


def test_builtins_win_name_clashes_and_the_clash_is_reported(fresh, tmp_path):
    plugin_layer.pm.register(Clashing(), name="clashing")  # before the built-ins load
    formats = plugin_layer.exporters()
    assert formats["spice"].plugin == "cktgen_eda.plugins.spice"
    assert formats["kicad"].plugin == "cktgen_eda.plugins.kicad"
    assert formats["own-fmt"].suffix == ".own"  # the first of the two
    assert plugin_layer.simulators()["ngspice"].plugin == "cktgen_eda.plugins.spice"
    error = rows()["clashing"]["error"]
    for kind, name in [("exporter", "spice"), ("exporter", "kicad"), ("simulator", "ngspice")]:
        owner = "cktgen_eda.plugins.spice" if name != "kicad" else "cktgen_eda.plugins.kicad"
        assert f"{kind} {name!r} is already registered by plugin {owner!r}" in error
    assert "exporter 'own-fmt' is already registered by plugin 'clashing'" in error
    r = invoke("export", AMP, "--format", "spice")
    assert r.exit_code == 0 and "hijacked" not in r.output
    assert_builtins_work(tmp_path)


def test_an_entry_point_cannot_take_a_builtins_name(fresh, tmp_path):
    code = GOOD_PLUGIN.replace('"good-fmt"', '"spice"')
    write_entry_points(fresh, **{"cktgen_eda.plugins.spice": code})
    assert plugin_layer.exporters()["spice"].writer is write_spice
    table = rows()
    assert table["cktgen_eda.plugins.spice"]["error"] is None
    impostor = table["cktgen_eda.plugins.spice [cktgen_eda_plugins_spice_plugin]"]
    assert impostor["error"] == "named like a built-in plugin; not loaded"
    assert not impostor["builtin"]
    assert_builtins_work(tmp_path)


class Commands:
    @hookimpl
    def register_commands(self, cli):
        @cli.command("to-spice")
        def hijack():
            click.echo("hijacked")

        @cli.command("hello")
        def hello():
            click.echo("hello")

        cli.commands["junk"] = None


class CommandsThenFails:
    @hookimpl
    def register_commands(self, cli):
        @cli.command("half")
        def half():
            click.echo("half")

        raise KeyboardInterrupt


def test_plugin_commands_cannot_replace_builtins_or_leave_garbage(fresh):
    group = click.Group(commands=[click.Command("to-spice", callback=lambda: None)])
    builtin = group.commands["to-spice"]
    plugin_layer.pm.register(Commands(), name="commands")
    plugin_layer.pm.register(CommandsThenFails(), name="half")
    try:
        warning = plugin_layer.register_plugin_commands(group)
    except BaseException as exc:  # the old code let KeyboardInterrupt out
        pytest.fail(f"{type(exc).__name__} escaped register_plugin_commands")
    assert group.commands["to-spice"] is builtin and "hello" in group.commands
    assert "junk" not in group.commands and "half" not in group.commands
    assert "commands (register_commands: command 'to-spice' already exists" in warning
    assert "half (register_commands: KeyboardInterrupt)" in warning
    error = rows()["commands"]["error"]
    assert "command 'junk' is NoneType, not a click.Command; dropped" in error
    assert CliRunner().invoke(group, ["--help"]).exit_code == 0


# ------------------------------------------------------------ 3. garbage from a hook
GARBAGE_EXPORTS = {
    "no suffix or writer": (("x", None, None), "needs a file suffix like '.cir', found None"),
    "no name": ((None,), "exporter name None must be one word"),
    "two words": (("x y", ".x", str), "exporter name 'x y' must be one word"),
    "writer not callable": (("x", ".x", 42), "needs a callable writer, found 42"),
    "suffix with a path": (("x", "./../x", str), "needs a file suffix like '.cir'"),
    "missing arguments": (("x",), "exporter 'x': TypeError: "),
    "description not text": (("x", ".x", str, 3), "needs a str description, found 3"),
}


@pytest.mark.parametrize("case", GARBAGE_EXPORTS)
def test_a_malformed_registration_is_dropped_with_its_reason(fresh, tmp_path, case):
    args, reason = GARBAGE_EXPORTS[case]

    class Garbage:
        @hookimpl
        def register_exporters(self, register):
            register(*args)
            register("fine-fmt", ".fine", str)

    plugin_layer.pm.register(Garbage(), name="garbage")
    formats = plugin_layer.exporters()
    assert "x" not in formats and "fine-fmt" in formats
    error = rows()["garbage"]["error"]
    assert error.startswith("register_exporters: ") and reason in error
    assert_builtins_work(tmp_path)


class ReturnsGarbage:
    @hookimpl
    def register_exporters(self, register):
        return {"csv": str}  # as if the table were returned, not registered

    @hookimpl
    def register_simulators(self, register):
        yield register  # a generator: never runs


def test_a_hook_that_returns_a_value_is_reported(fresh, tmp_path):
    plugin_layer.pm.register(ReturnsGarbage(), name="returns")
    assert "csv" not in plugin_layer.exporters()
    error = rows()["returns"]["error"]
    assert "register_exporters: returned dict, expected None" in error
    assert "register_simulators: returned generator, expected None" in error
    assert_builtins_work(tmp_path)


def test_an_entry_point_that_loads_none_is_reported(fresh, tmp_path):
    write_entry_points(fresh, nothing="value = None\n")
    folder = next(fresh.glob("nothing_plugin-*.dist-info"))
    (folder / "entry_points.txt").write_text("[cktgen_eda]\nnothing = nothing_plugin:value\n")
    assert rows()["nothing"]["error"] == "PluginError: entry point 'nothing_plugin:value' is None"
    assert_builtins_work(tmp_path)


class BadRunners:
    @hookimpl
    def register_exporters(self, register):
        register("exits", ".x", lambda circuit: sys.exit(3))

    @hookimpl
    def register_simulators(self, register):
        register("nothing-sim", lambda items, **options: None)
        register("short-sim", lambda items, **options: [])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("export", AMP, "--format", "exits"),
            "Error: plugin 'bad' failed in exporter 'exits': SystemExit: 3",
        ),
        (
            ("verify", AMP, "--engine", "nothing-sim"),
            "Error: simulator 'nothing-sim' of plugin 'bad' returned NoneType, "
            "expected a list of 1 SimResult",
        ),
        (
            ("verify", AMP, "--engine", "short-sim"),
            "Error: simulator 'short-sim' of plugin 'bad' returned 0 results, "
            "expected a list of 1 SimResult",
        ),
    ],
)
def test_a_writer_or_runner_that_misbehaves_is_a_one_line_error(fresh, args, message):
    plugin_layer.pm.register(BadRunners(), name="bad")
    r = invoke(*args)
    assert r.exit_code == 1 and r.output.splitlines()[-1] == message, r.output
