"""CLI: exit codes, one-line errors, atomic and non-clobbering writes, help texts."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from helpers import EXAMPLES

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
    out = subprocess.run(
        [sys.executable, "-m", "cktgen_eda", "--help"], capture_output=True, text=True, check=True
    )
    assert "verify" in out.stdout
    # generous bound for loaded CI machines; benchmarks/startup time is in the closing note
    assert time.perf_counter() - start < 3.0


@pytest.mark.ngspice
def test_verify_table_json_spec_and_plot(tmp_path, spectre_example):
    deck = tmp_path / "user.cir"
    deck.write_text(
        "behavioural amp\nVin a 0 AC 1\nE1 b 0 a 0 -1000\nR1 b vout 1k\nC1 vout 0 1n\n.end\n"
    )
    files = [AMP, deck, spectre_example]
    r = run(
        "verify",
        "--ngspice",
        *files,
        "--spec",
        "gain>=60dB,pm>=45deg",
        "--out-node",
        "vout",
        "--json",
        "--plot",
        tmp_path / "plots",
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["spec"] == "gain>=60dB,pm>=45deg" and out["engine"] == "ngspice"
    assert [d["file"] for d in out["results"]] == [str(f) for f in files]
    data = [d["measurement"] for d in out["results"]]
    assert [d["valid"] for d in data] == [True, True, True]
    assert data[0]["meets_spec"] is True and data[0]["simulator"].startswith("ngspice")
    assert abs(data[1]["gain_db"] - 60.0) < 1e-3  # |E| = 1000 at 1 Hz, pole at 159 kHz
    assert data[1]["meets_spec"] is False  # inverting: PM near -90°
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "ocb_spectre_example.png",
        "two_stage_miller.png",
        "user.png",
    ]
    table = run("verify", AMP, "--spec", "gain>=200dB").output
    assert "two_stage_miller.json" in table and "FAIL" in table


def test_verify_bad_file_is_one_line_error_before_simulating(tmp_path):
    bad = tmp_path / "amp.txt"
    bad.write_text("hello")
    r = run("verify", AMP, bad)
    assert r.exit_code == 1 and r.output.count("\n") == 1
    assert "unknown file type .txt" in r.output
    deck = tmp_path / "x.cir"
    deck.write_text("t\nV1 a 0 AC 1\nR1 a b 1k\n")
    r = run("verify", deck, "--out-node", "nowhere")
    assert r.exit_code == 1 and "output node 'nowhere' not found" in r.output


@pytest.mark.parametrize(
    "command, old, new",
    [
        ("verify", "--out", "--out-node"),
        ("size", "--out", "--out-node"),
        ("from-spice", "--out-net", "--out-node"),
        ("from-kicad", "--out-net", "--out-node"),
        ("from-kicad", "--in-net", "--in-node"),
        ("generate", "--out", "--out-dir"),
        ("design", "--out", "--out-dir"),
        ("train", "--out", "--out-dir"),
        ("dataset build", "--out", "--output"),
        ("dataset import-ocb", "--out", "--output"),
    ],
)
def test_old_option_spellings_are_hidden_aliases(command, old, new):
    """Nets are --out-node, folders --out-dir, files -o/--output; old names stay one release."""
    from click.testing import CliRunner

    from cktgen_eda.cli import cli

    help_text = CliRunner().invoke(cli, [*command.split(), "--help"]).output
    assert new in help_text
    assert f"{old} " not in help_text.replace(f"{old}-", "") and f"{old}," not in help_text


def test_an_old_spelling_still_works_with_one_deprecation_line(tmp_path):
    from click.testing import CliRunner

    from cktgen_eda.cli import cli

    deck = tmp_path / "rc.cir"
    deck.write_text("* rc\nV1 in 0 AC 1\nG1 0 vout in 0 1m\nR1 vout 0 100k\nC1 vout 0 1p\n.end\n")
    old = CliRunner().invoke(
        cli, ["verify", "--engine", "fast", str(deck), "--out", "vout", "--json"]
    )
    new = CliRunner().invoke(
        cli, ["verify", "--engine", "fast", str(deck), "--out-node", "vout", "--json"]
    )
    assert old.exit_code == new.exit_code == 0, old.output
    assert old.stdout == new.stdout
    assert old.stderr.strip() == "warning: --out is deprecated; use --out-node"
