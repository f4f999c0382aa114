"""CLI: exit codes, one-line errors, atomic and non-clobbering writes, help texts."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from click.testing import CliRunner
from conftest import EXAMPLES

from cktgen_eda.circuit import Circuit, load_circuit
from cktgen_eda.cli import cli

AMP = EXAMPLES / "two_stage_miller.json"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_version_and_help():
    assert run("--version").output.startswith("cktgen-eda, version")
    for cmd in (["-h"], ["to-spice", "-h"], ["from-spice", "--help"], ["verify", "-h"]):
        r = run(*cmd)
        assert r.exit_code == 0 and "Example" in r.output


def test_to_spice_stdout_and_file(tmp_path):
    r = run("to-spice", AMP)
    assert r.exit_code == 0 and r.output.startswith("* cktgen-eda") and ".end" in r.output
    out = tmp_path / "amp.cir"
    assert run("to-spice", AMP, "-o", out).exit_code == 0
    assert out.read_text() == r.output
    assert oct(out.stat().st_mode & 0o777) != "0o600"


def test_refuses_to_overwrite_without_force(tmp_path):
    out = tmp_path / "amp.cir"
    out.write_text("precious")
    r = run("to-spice", AMP, "-o", out)
    assert r.exit_code == 1 and "exists; use --force" in r.output
    assert out.read_text() == "precious"
    assert run("to-spice", AMP, "-o", out, "--force").exit_code == 0
    assert out.read_text().startswith("* cktgen-eda")


def test_round_trip_through_cli(tmp_path):
    deck, back = tmp_path / "a.cir", tmp_path / "a.json"
    assert run("to-spice", AMP, "-o", deck).exit_code == 0
    assert run("from-spice", deck, "-o", back).exit_code == 0
    assert load_circuit(back) == load_circuit(AMP)


def test_from_spice_reads_spectre(spectre_example):
    r = run("from-spice", spectre_example)
    assert r.exit_code == 0
    assert Circuit.from_json(r.output).nodes[1].type == 7


def test_bad_input_is_one_line_error_and_no_partial_file(tmp_path):
    bad = tmp_path / "bad.json"
    doc = json.loads(AMP.read_text())
    doc["nodes"][1]["type"] = 8
    bad.write_text(json.dumps(doc))
    out = tmp_path / "out.cir"
    r = run("to-spice", bad, "-o", out)
    assert r.exit_code == 1
    assert r.output.count("\n") == 1 and r.output.startswith("Error: ")
    assert "feedback type 8" in r.output
    assert not out.exists() and list(tmp_path.iterdir()) == [bad]


def test_usage_errors_exit_2(tmp_path):
    assert run("to-spice").exit_code == 2
    assert run("to-spice", tmp_path / "missing.json").exit_code == 2
    assert run("verify", AMP, "--timeout", "-1").exit_code == 2


def test_bad_spec_is_one_line_error():
    r = run("verify", AMP, "--spec", "gain>=lots")
    assert r.exit_code == 1 and r.output.startswith("Error: bad number")


def test_help_starts_fast_without_torch():
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "cktgen_eda", "--help"], capture_output=True,
                         text=True, check=True)
    assert "verify" in out.stdout
    # generous bound for loaded CI machines; benchmarks/startup time is in the closing note
    assert time.perf_counter() - start < 3.0
