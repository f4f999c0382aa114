"""`cktgen-eda dataset …`: build (real ngspice), info, errors."""

from __future__ import annotations

import hashlib
import json

import pytest
from click.testing import CliRunner
from conftest import SHARED

from cktgen_eda.cli import cli
from cktgen_eda.data.store import read_benchmark


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.ngspice
def test_build_is_deterministic_and_info_reads_it(tmp_path):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    r = run("dataset", "build", "--recipe", "ocb301", "-n", "80", "--out", str(a))
    assert r.exit_code == 0, r.output
    assert "80 circuits (64 train / 16 test)" in r.output
    assert run("dataset", "build", "--recipe", "ocb301", "-n", "80", "--out", str(b)).exit_code == 0
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    bench = read_benchmark(a)
    assert bench.manifest["recipe"]["name"] == "ocb301" and bench.manifest["simulator"].startswith(
        "ngspice"
    )
    assert bench["valid"].mean() > 0.8 and len(set(bench["topology"].tolist())) <= 8

    r = run("dataset", "info", str(a), "--json")
    info = json.loads(r.output)
    assert info["summary"]["rows"] == 80 and info["manifest"]["sha256"] == bench.manifest["sha256"]
    # another seed gives other circuits
    c = tmp_path / "c.npz"
    assert (
        run(
            "dataset", "build", "--recipe", "ocb301", "-n", "80", "--seed", "1", "--out", str(c)
        ).exit_code
        == 0
    )
    assert read_benchmark(c).manifest["sha256"] != bench.manifest["sha256"]


@pytest.mark.ngspice
def test_build_refuses_to_overwrite(tmp_path):
    out = tmp_path / "x.npz"
    out.write_text("keep me")
    r = CliRunner().invoke(cli, ["dataset", "build", "-n", "5", "--out", str(out)])
    assert r.exit_code == 1 and "exists" in r.output and out.read_text() == "keep me"


def test_info_on_the_original_labels_with_compare():
    csv101, csv301 = SHARED / "data" / "perform101.csv", SHARED / "data" / "perform301.csv"
    if not csv101.exists():
        pytest.skip("shared/ data not available")
    r = run("dataset", "info", str(csv101), "--compare", str(csv301))
    assert r.exit_code == 0
    assert "376 train, 265 test" in r.output and "vs perform301.csv" in r.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["dataset", "build", "--recipe", "nope"], "unknown recipe 'nope'"),
        (["dataset", "info", "nope"], "no benchmark named 'nope'"),
        (["dataset", "export-ocb", "nope", "--pkl", "a.pkl", "--csv", "a.csv"], "no benchmark"),
    ],
)
def test_errors_are_one_line(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 1, r.output
    assert message in r.output and r.output.count("\n") == 1
