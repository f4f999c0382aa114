"""`cktgen-eda dataset …`: build (real ngspice), info, errors."""

from __future__ import annotations

import hashlib
import json

import pytest
from click.testing import CliRunner
from helpers import DATA

from cktgen_eda.cli import cli
from cktgen_eda.data.store import read_benchmark


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.ngspice
def test_build_is_deterministic_and_info_reads_it(tmp_path):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    r = run("dataset", "build", "--recipe", "ocb301", "-n", "80", "-o", str(a))
    assert r.exit_code == 0, r.output
    assert "80 circuits (64 train / 16 test)" in r.output
    assert run("dataset", "build", "--recipe", "ocb301", "-n", "80", "-o", str(b)).exit_code == 0
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    bench = read_benchmark(a)
    assert bench.manifest["recipe"]["name"] == "ocb301" and bench.manifest["simulator"].startswith(
        "ngspice"
    )
    assert bench["valid"].mean() > 0.8 and len(set(bench["topology"].tolist())) <= 8

    r = run("dataset", "info", str(a), "--json")
    info = json.loads(r.stdout)
    assert info["summary"]["rows"] == 80 and info["manifest"]["sha256"] == bench.manifest["sha256"]
    st = info["summary"]["stability"]
    assert set(st) == {"stable", "cl_stable", "both", "working"}
    assert st["working"]["rows"] <= st["both"]["rows"] <= min(bench["stable"].sum(), 80)
    assert st["cl_stable"]["rows"] == bench["cl_stable"].sum()
    assert bench.manifest["stability"] == {"measured": True, "unknown_rows": 0}
    # another seed gives other circuits
    c = tmp_path / "c.npz"
    assert (
        run(
            "dataset", "build", "--recipe", "ocb301", "-n", "80", "--seed", "1", "-o", str(c)
        ).exit_code
        == 0
    )
    assert read_benchmark(c).manifest["sha256"] != bench.manifest["sha256"]


@pytest.mark.ngspice
def test_build_refuses_to_overwrite(tmp_path):
    out = tmp_path / "x.npz"
    out.write_text("keep me")
    r = CliRunner().invoke(cli, ["dataset", "build", "-n", "5", "-o", str(out)])
    assert r.exit_code == 1 and "exists" in r.output and out.read_text() == "keep me"


def test_info_on_the_original_labels_with_compare():
    csv101, csv301 = DATA / "perform101.csv", DATA / "perform301_distinct.csv"
    r = run("dataset", "info", str(csv101), "--compare", str(csv301))
    assert r.exit_code == 0
    assert "376 train, 265 test" in r.output and "vs perform301_distinct.csv" in r.output


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


def test_export_then_import_through_the_cli(tmp_path):
    from helpers import synthetic

    from cktgen_eda.data.store import write_benchmark

    src = write_benchmark(synthetic(40), tmp_path / "s.npz")
    pkl, csv, back = tmp_path / "b.pkl", tmp_path / "b.csv", tmp_path / "back.npz"
    r = run("dataset", "export-ocb", str(src), "--pkl", str(pkl), "--csv", str(csv))
    assert r.exit_code == 0 and pkl.exists() and csv.read_text().startswith(",valid,gain,pm,bw,fom")
    r = run("dataset", "import-ocb", str(pkl), str(csv), "-o", str(back), "--name", "rt")
    assert r.exit_code == 0, r.output
    a, b = read_benchmark(src), read_benchmark(back)
    assert b.name == "rt" and b.n_train == a.n_train
    assert all(a.circuit(i).nodes == b.circuit(i).nodes for i in range(len(a)))
    assert (a["gain_cls"] == b["gain_cls"]).all() and (a["valid"] == b["valid"]).all()
    info = run("dataset", "info", str(back))
    assert "stability: not measured" in info.output  # import-ocb does not simulate
    # existing outputs are kept without --force
    r = CliRunner().invoke(
        cli, ["dataset", "export-ocb", str(src), "--pkl", str(pkl), "--csv", str(csv)]
    )
    assert r.exit_code == 1 and "exists" in r.output


def test_info_lists_shipped_datasets():
    r = run("dataset", "info")
    assert r.exit_code == 0
    assert "ocb101: 10,000 circuits" in r.output and "ocb301: 50,000 circuits" in r.output
    listing = json.loads(run("dataset", "info", "--json").stdout)
    assert listing["ocb101"]["counts"]["train"] == 9000
