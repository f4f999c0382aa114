"""Library/CLI boundary: the library runs every workflow, the CLI parses and renders.

A simulator registered through ``register_simulators`` is the one that runs for ``verify``,
``generate --verify`` and ``design`` (CLI and library); ``candidates_ready`` fires once per
run from the library; ``generate``/``design`` with ``out_dir`` write the bytes the CLI wrote
before the move. The goldens in tests/data/golden/ came from the CLI of that commit:

    cktgen-eda generate --model ocb101 --spec "gain>=60dB" -n 4 --seed 0 --out generate_json
    cktgen-eda generate --model ocb101 --spec "gain>=60dB" -n 4 --seed 0 --out generate_spice \\
        --format spice
    cktgen-eda design --model ocb101 --spec "gain>=0dB" --budget 16 --batch 8 --top 2 \\
        --seed 0 --refine 4 --out design --plot  # PNGs not kept: bytes vary with matplotlib
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from helpers import DATA, EXAMPLES

from cktgen_eda import plugins as plugin_layer
from cktgen_eda.circuit import load_circuit
from cktgen_eda.cli import cli
from cktgen_eda.design import design, search
from cktgen_eda.errors import CktGenError
from cktgen_eda.evaluation import measure_classes, run_task, verified_accuracy
from cktgen_eda.generation import generate
from cktgen_eda.netlist import fastac
from cktgen_eda.plugins import hookimpl, pm
from cktgen_eda.plugins import spice as spice_plugin

AMP = EXAMPLES / "two_stage_miller.json"
GOLDEN = DATA / "golden"


class Counting:
    """An in-test plugin: simulator "counting" (the exact engine, each call counted) and a
    ``candidates_ready`` that keeps what it receives."""

    def __init__(self) -> None:
        self.runs: list[int] = []  # items per simulator call
        self.ready: list[tuple] = []

    @hookimpl
    def register_simulators(self, register):
        def run(items, **options):
            self.runs.append(len(items))
            return fastac.verify(items, **options)

        register("counting", run, "the exact engine, counted")

    @hookimpl
    def candidates_ready(self, spec, circuits, measurements, out_dir):
        self.ready.append((spec, circuits, measurements, out_dir))


@pytest.fixture
def counting():
    plugin = Counting()
    pm.register(plugin, name="counting")
    try:
        yield plugin
    finally:  # the tables are rebuilt from the hooks on every read: nothing else to reset
        pm.unregister(name="counting")
        plugin_layer._errors.pop("counting", None)


def counted(monkeypatch, name: str) -> list[int]:
    """Replace the built-in simulator ``name`` ("ngspice" or "fast") by the exact engine,
    counting its calls: the built-in plugin registers whatever its module holds."""
    runs: list[int] = []

    def run(items, **options):
        runs.append(len(items))
        return fastac.verify(items, **options)

    monkeypatch.setattr(spice_plugin, name, run)
    return runs


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def folder_bytes(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# ------------------------------------------------------------------- simulators by name


def test_verify_engine_runs_the_plugin_simulator(counting):
    r = invoke("verify", AMP, "--engine", "counting", "--json")
    assert r.exit_code == 0, r.output
    [item] = json.loads(r.stdout)["results"]
    assert counting.runs == [1] and item["measurement"]["simulator"].startswith("fast")


def test_verify_ngspice_goes_through_the_simulator_table(monkeypatch):
    runs = counted(monkeypatch, "ngspice")
    assert invoke("verify", "--ngspice", AMP).exit_code == 0
    assert invoke("verify", AMP).exit_code == 0  # the default is the same entry
    assert runs == [1, 1]


def test_generate_verify_engine_cli_and_library(counting, tiny_model, tmp_path):
    model, path = tiny_model
    args = ["generate", "--spec", "gain>=0dB", "-n", 4, "--model", path, "--seed", 2]
    r = invoke(*args, "--verify", "--engine", "counting", "--json", "--out-dir", tmp_path / "cli")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert counting.runs == [data["valid"]] and data["valid"] > 0
    assert data["engine"] == "counting"
    assert all(c["measurement"]["simulator"].startswith("fast") for c in data["results"])
    [(spec, circuits, measurements, out_dir)] = counting.ready
    assert out_dir == tmp_path / "cli" and len(circuits) == data["valid"]
    assert all(m.simulator.startswith("fast") for m in measurements)

    counting.runs.clear()
    counting.ready.clear()
    res = generate(
        "gain>=0dB", 4, path, seed=2, verify=True, simulator="counting", out_dir=tmp_path / "lib"
    )
    assert counting.runs == [data["valid"]] and len(counting.ready) == 1
    assert sorted(res.files) == sorted((tmp_path / "lib").iterdir())  # res.files: ranked
    assert folder_bytes(tmp_path / "lib") == folder_bytes(tmp_path / "cli")


def test_generate_verify_defaults_to_the_registered_ngspice(monkeypatch, tiny_model):
    runs = counted(monkeypatch, "ngspice")
    model, path = tiny_model
    r = invoke("generate", "--spec", "gain>=0dB", "-n", 2, "--model", path, "--verify")
    assert r.exit_code == 0, r.output
    generate("gain>=0dB", 2, model, verify=True)
    assert len(runs) == 2


def test_design_engine_cli_and_library(counting, monkeypatch, tiny_model, tmp_path):
    screens = counted(monkeypatch, "fast")  # the screening engine is simulators()["fast"]
    model, path = tiny_model
    options = ["--budget", 8, "--batch", 8, "--top", 2, "--refine", 0, "--seed", 0]
    args = ["design", "--spec", "gain>=0dB", "--model", path, *options, "--engine", "counting"]
    r = invoke(*args, "--json", "--out-dir", tmp_path / "cli")
    assert r.exit_code == 0, r.output
    found = json.loads(r.stdout)["results"]
    assert found and all(d["measurement"]["simulator"].startswith("fast") for d in found)
    assert screens == [8] and counting.runs and sum(counting.runs) >= len(found)
    [(spec, circuits, measurements, out_dir)] = counting.ready
    assert spec.to_text() == "gain>=0dB" and out_dir == tmp_path / "cli"
    assert [c.to_dict() for c in circuits] == [d["circuit"] for d in found]

    counting.ready.clear()
    res = design(
        "gain>=0dB",
        budget=8,
        batch=8,
        top=2,
        refine=0,
        model=path,
        simulator="counting",
        out_dir=tmp_path / "lib",
    )
    assert len(counting.ready) == 1 and len(res.designs) == len(found)
    assert folder_bytes(tmp_path / "lib") == folder_bytes(tmp_path / "cli")
    assert sorted(p.name for p in res.files) == [
        f"design_{k}{s}" for k in range(len(found)) for s in (".cir", ".json")
    ]


def test_unknown_names_are_one_line_errors(tiny_model, tmp_path):
    model, path = tiny_model
    known = "known simulators: fast, ngspice"
    with pytest.raises(CktGenError, match=f"unknown simulator 'nope'; {known}$"):
        generate("gain>=0dB", 2, model, verify=True, simulator="nope")
    with pytest.raises(CktGenError, match=f"unknown simulator 'nope'; {known}$"):
        design("gain>=0dB", budget=8, model=model, simulator="nope")
    with pytest.raises(CktGenError, match=f"unknown simulator 'nope'; {known}$"):
        measure_classes([load_circuit(AMP)], simulator="nope")
    with pytest.raises(CktGenError, match="unknown format 'gerber'; known formats: .*json"):
        generate("gain>=0dB", 2, model, out_dir=tmp_path / "x", fmt="gerber")
    with pytest.raises(CktGenError, match="plot needs out_dir"):
        design("gain>=0dB", budget=8, model=model, plot=True)
    with pytest.raises(CktGenError, match="unknown task 'nope'; known tasks: cond-gen"):
        run_task("nope")
    assert not (tmp_path / "x").exists()
    for command in (["generate", "--spec", "gain>=0dB"], ["design", "--spec", "gain>=0dB"]):
        r = invoke(*command, "--model", path, "--engine", "nope")
        assert r.exit_code == 2
        assert r.output == "Error: unknown engine 'nope'; known engines: fast, ngspice\n"


# ------------------------------------------------------------------- candidates_ready


def test_candidates_ready_fires_once_per_generate(counting, tiny_model, tmp_path):
    model, path = tiny_model
    r = invoke("generate", "--spec", "gain>=0dB", "-n", 3, "--model", path)
    assert r.exit_code == 0, r.output
    res = generate("gain>=0dB", 3, model)
    assert [c[3] for c in counting.ready] == [None, None]
    assert len(counting.ready[1][1]) == sum(c.valid for c in res.candidates)


def test_candidates_ready_fires_once_per_design_not_per_search(counting, tiny_model):
    model, path = tiny_model
    options = ["--budget", 8, "--batch", 8, "--refine", 0, "--engine", "counting"]
    invoke("design", "--spec", "gain>=0dB", "--model", path, *options)
    res = design("gain>=0dB", budget=8, batch=8, refine=0, model=model, simulator="counting")
    assert len(counting.ready) == 2
    assert counting.ready[1][1] == [d.circuit for d in res.designs]
    search("gain>=0dB", budget=8, batch=8, refine=0, model=model, simulator="counting")
    assert len(counting.ready) == 2  # auto-design's searches hand nothing over


class Failing:
    @hookimpl
    def candidates_ready(self, circuits):
        raise RuntimeError("disk on fire")


def test_a_failing_hook_still_lets_the_result_print(tiny_model):
    _, path = tiny_model
    pm.register(Failing(), name="failing")
    try:
        r = invoke("generate", "--spec", "gain>=0dB", "-n", 2, "--model", path, "--json")
    finally:
        pm.unregister(name="failing")
        plugin_layer._errors.pop("failing", None)
    assert r.exit_code == 1 and len(json.loads(r.stdout)["results"]) == 2
    assert r.stderr.splitlines()[-1].startswith("Error: plugin 'failing' failed")


# ------------------------------------------------------------------- written bytes


@pytest.mark.parametrize(
    ("fmt", "golden"), [("json", "generate_json"), ("spice", "generate_spice")]
)
def test_generate_out_dir_writes_the_golden_bytes(tmp_path, fmt, golden):
    # the goldens are the ocb101 model's candidates (the default model changed since)
    res = generate("gain>=60dB", n=4, seed=0, out_dir=tmp_path, fmt=fmt, model="ocb101")
    assert folder_bytes(tmp_path) == folder_bytes(GOLDEN / golden)
    assert res.files == sorted(tmp_path.iterdir())


@pytest.mark.ngspice
def test_design_out_dir_writes_the_golden_bytes(tmp_path):
    res = design(
        "gain>=0dB",
        budget=16,
        batch=8,
        top=2,
        seed=0,
        refine=4,
        model="ocb101",
        out_dir=tmp_path,
        plot=True,
    )
    written = folder_bytes(tmp_path)
    for name in ("best_bode.png", "convergence.png"):
        assert written.pop(name).startswith(b"\x89PNG\r\n")
    assert written == folder_bytes(GOLDEN / "design") and len(res.files) == 6


# ------------------------------------------------------------------- verified accuracy


def test_verified_accuracy_judges_through_the_simulator_table(counting):
    amp = load_circuit(AMP)  # measures as class (2, 0, 1)
    acc = verified_accuracy([amp, None, amp], [[2, 0, 1], [2, 0, 1], [2, 1, 1]], "counting")
    assert counting.runs == [2]
    assert acc == pytest.approx({"joint": 1 / 3, "gain": 2 / 3, "bw": 1 / 3, "pm": 2 / 3})
