"""Plugins: the hooks, the built-ins, `plugins`/`export`, and a pip-installed example plugin."""

from __future__ import annotations

import csv
import inspect
import json
import os
import subprocess
import sys
from contextlib import contextmanager

import click
import pytest
import torch
from click.testing import CliRunner
from helpers import EXAMPLES, ROOT, small_bench

from cktgen_eda import __version__, load_circuit
from cktgen_eda import plugins as plugin_layer
from cktgen_eda.cli import cli
from cktgen_eda.data.dataset import clean
from cktgen_eda.errors import PluginError
from cktgen_eda.model.cktgen import CktGen
from cktgen_eda.model.registry import make_config
from cktgen_eda.netlist import ngspice
from cktgen_eda.plugins import hookimpl, pm
from cktgen_eda.training.checkpoint import save_checkpoint

AMP = str(EXAMPLES / "two_stage_miller.json")
EXAMPLE = ROOT / "examples" / "plugin_example"


class Recorder:
    """An in-test plugin: one exporter, and it keeps what candidates_ready hands over."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    @hookimpl
    def register_exporters(self, register):
        register("node-count", ".txt", lambda c: b"%d nodes\n" % len(c.nodes), "count (bytes)")

    @hookimpl
    def candidates_ready(self, spec, circuits, measurements, out_dir):
        self.calls.append((spec, circuits, measurements, out_dir))


class Broken:
    @hookimpl
    def candidates_ready(self, circuits):
        raise RuntimeError("disk on fire")

    @hookimpl
    def register_commands(self, cli):
        raise ValueError("no commands today")


class Twin:
    @hookimpl
    def register_exporters(self, register):
        register("spice", ".sp", str)


@contextmanager
def registered(**plugins):
    for name, plugin in plugins.items():
        pm.register(plugin, name=name)
    try:
        yield
    finally:
        for name in plugins:
            pm.unregister(name=name)
            plugin_layer._errors.pop(name, None)


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    torch.manual_seed(0)
    model = CktGen(make_config("cktgen", "tiny"), clean(small_bench()).scheme).eval()
    return save_checkpoint(tmp_path_factory.mktemp("m") / "tiny.pt", model, {"epoch": 1})


def test_in_test_plugin_adds_a_format_and_receives_candidates(tiny_path, tmp_path):
    rec = Recorder()
    with registered(recorder=rec):
        assert "node-count" in invoke("export", "--help").output
        r = invoke("export", AMP, "--format", "node-count")
        assert r.exit_code == 0 and r.output == "5 nodes\n"
        r = invoke("export", AMP, "-o", tmp_path / "amp.txt")  # format from the suffix
        assert r.exit_code == 0 and (tmp_path / "amp.txt").read_text() == "5 nodes\n"
        out = tmp_path / "cands"
        gen = ["generate", "--spec", "gain>=0dB", "-n", 6, "--model", tiny_path, "--json"]
        r = invoke(*gen, "--out-dir", out, "--format", "node-count")
        assert r.exit_code == 0, r.output
        [(spec, circuits, measurements, out_dir)] = rec.calls
        assert spec.to_text() == "gain>=0dB" and out_dir == out
        assert circuits and measurements == [None] * len(circuits)
        files = sorted(p.name for p in out.glob("candidate_*.txt"))
        assert files == [f"candidate_{c.meta['index']:03d}.txt" for c in circuits]
    r = invoke("export", AMP, "--format", "node-count")
    assert r.exit_code == 2 and r.output.startswith("Error: unknown format 'node-count'; known")
    assert "node-count" not in invoke("export", "--help").output


def test_unknown_format_is_a_one_line_error():
    r = invoke("export", AMP, "--format", "gerber")
    assert r.exit_code == 2
    known = ", ".join(sorted(plugin_layer.exporters()))
    assert r.output == f"Error: unknown format 'gerber'; known formats: {known}\n"


def test_failing_hook_is_named_and_the_cli_still_works(tiny_path):
    rec = Recorder()
    with registered(broken=Broken(), recorder=rec):
        with pytest.raises(PluginError, match="'broken' failed in candidates_ready: .*on fire"):
            plugin_layer.fire_candidates_ready(None, [load_circuit(AMP)])
        assert len(rec.calls) == 1  # the other plugins still ran
        warning = plugin_layer.register_plugin_commands(click.Group())
        assert "broken (register_commands: ValueError: no commands today)" in warning
        r = invoke("plugins", "--json")
        assert r.exit_code == 0
        row = next(p for p in json.loads(r.stdout) if p["name"] == "broken")
        assert "no commands today" in row["error"] and not row["builtin"]
        r = invoke("generate", "--spec", "gain>=0dB", "-n", 2, "--model", tiny_path)
        assert r.exit_code == 1
        assert r.output.splitlines()[-1].startswith("Error: plugin 'broken' failed")
    assert "broken" not in invoke("plugins").output


def test_plugins_lists_the_builtins_with_their_hooks():
    r = invoke("plugins", "--json")
    assert r.exit_code == 0
    rows = {p["name"]: p for p in json.loads(r.stdout)}
    assert set(plugin_layer.DEFAULT_PLUGINS) <= set(rows)
    spice = rows["cktgen_eda.plugins.spice"]
    assert spice["hooks"] == ["register_exporters", "register_simulators"]
    assert spice["builtin"] and spice["version"] == __version__ and spice["error"] is None
    if (ROOT / "plugins" / "kicad.py").exists():
        kicad = rows["cktgen_eda.plugins.kicad"]
        assert kicad["error"] is None and "register_exporters" in kicad["hooks"]
    text = invoke("plugins").output
    assert text.startswith("name") and "register_simulators" in text
    assert {"json", "spice"} <= set(plugin_layer.exporters())


def test_ngspice_simulator_is_registered_with_the_verify_signature():
    sim = plugin_layer.simulators()["ngspice"]
    assert sim.plugin == "cktgen_eda.plugins.spice"

    def params(f):
        return [(p.name, p.default) for p in inspect.signature(f).parameters.values()]

    assert params(sim.runner) == params(ngspice.verify)


@pytest.mark.ngspice
def test_ngspice_simulator_runs():
    [result] = plugin_layer.simulators()["ngspice"].verify([load_circuit(AMP)])
    assert round(result.measurement.gain_db, 1) == 134.0


def test_duplicate_exporter_name_is_dropped_and_names_both_plugins():
    with registered(twin=Twin()):
        assert plugin_layer.exporters()["spice"].plugin == "cktgen_eda.plugins.spice"
        [error] = plugin_layer._errors["twin"]
        assert "'spice' is already registered by plugin 'cktgen_eda.plugins.spice'" in error
        r = invoke("export", AMP, "--format", "json")
        assert r.exit_code == 0 and load_circuit(AMP).to_json() in r.output


def test_broken_entry_points_are_reported_not_fatal(tmp_path):
    plugins = {
        "bad": "raise ImportError('needs libfoo')\n",
        "typo": "from cktgen_eda.plugins import hookimpl\n"
        "@hookimpl\ndef register_exporter(register): pass\n",
    }
    for name, code in plugins.items():
        (tmp_path / f"{name}_plugin.py").write_text(code)
        dist = tmp_path / f"{name}_plugin-1.0.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        (dist / "entry_points.txt").write_text(f"[cktgen_eda]\n{name} = {name}_plugin\n")
    out = cktgen("plugins", "--json", load="1", PYTHONPATH=str(tmp_path))
    assert out.returncode == 0
    rows = {p["name"]: p for p in json.loads(out.stdout)}
    assert rows["bad"]["version"] == "1.0" and rows["bad"]["error"] == "ImportError: needs libfoo"
    assert rows["typo"]["error"] == "PluginError: unknown hook 'register_exporter'"
    [warning] = [ln for ln in out.stderr.splitlines() if ln.startswith("warning:")]
    assert "bad (ImportError: needs libfoo)" in warning and "typo (" in warning
    assert cktgen("export", AMP, "--format", "spice", load="1", PYTHONPATH=str(tmp_path)).stdout


def cktgen(*args, load: str, **env) -> subprocess.CompletedProcess:
    env = {**os.environ, "CKTGEN_EDA_LOAD_PLUGINS": load, **env}
    cmd = [sys.executable, "-m", "cktgen_eda", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture(scope="module")
def example_installed():
    pip = [sys.executable, "-m", "pip", "-q"]
    subprocess.run(pip + ["uninstall", "-y", "cktgen-eda-csv"], capture_output=True)
    subprocess.run(
        pip + ["install", "--no-deps", "--no-build-isolation", "-e", str(EXAMPLE)],
        check=True,
        capture_output=True,
    )
    try:
        yield
    finally:
        subprocess.run(pip + ["uninstall", "-y", "cktgen-eda-csv"], check=True, capture_output=True)


def test_example_plugin_installs_and_runs(example_installed, tiny_path, tmp_path):
    out = cktgen("plugins", "--json", load="1")
    row = next(p for p in json.loads(out.stdout) if p["name"] == "cktgen_eda_csv")
    assert row["version"] == "0.2.0" and row["package"] == "cktgen-eda-csv"
    assert row["hooks"] == ["candidates_ready", "register_exporters"] and row["error"] is None

    out = cktgen("export", AMP, "--format", "netlist-csv", "-o", tmp_path / "a.csv", load="1")
    assert out.returncode == 0, out.stderr
    rows = list(csv.reader((tmp_path / "a.csv").open()))
    assert rows[0] == ["subgraph", "type", "component", "value"]
    assert rows[1:] == [["1", "+gm+", "gm", "0.001"], ["2", "C", "c", "5e-13"],
                        ["3", "+gm+", "gm", "0.005"]]  # fmt: skip

    cands = tmp_path / "cands"
    gen = ["generate", "--spec", "gain>=0dB", "-n", 6, "--model", tiny_path, "--out-dir", cands]
    out = cktgen(*gen, load="1")
    assert out.returncode == 0, out.stderr
    summary = list(csv.DictReader((cands / "candidates.csv").open()))
    assert sorted(f"candidate_{int(r['index']):03d}.json" for r in summary) == sorted(
        p.name for p in cands.glob("candidate_*.json")
    )
    assert summary and all(r["gain_db"] == "" for r in summary)  # not verified


def test_load_plugins_0_hides_third_party_plugins(example_installed):
    out = cktgen("plugins", "--json", load="0")
    assert "cktgen_eda_csv" not in {p["name"] for p in json.loads(out.stdout)}
    out = cktgen("export", AMP, "--format", "netlist-csv", load="0")
    assert out.returncode == 2 and "unknown format 'netlist-csv'" in out.stderr
