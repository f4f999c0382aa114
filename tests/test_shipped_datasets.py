"""The shipped benchmarks: intact, built from the current recipes, close to the originals."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import DATA, ROOT

from cktgen_eda.data.recipes import get_recipe
from cktgen_eda.data.stats import Labels, compare, summarize
from cktgen_eda.data.store import load_benchmark, shipped_benchmarks


@pytest.mark.parametrize("name", ["ocb101", "ocb301"])
def test_shipped_file_matches_its_recipe(name):
    assert name in shipped_benchmarks()
    bench = load_benchmark(name)  # checks the content sha256
    recipe = get_recipe(name)
    # A recipe edited without rebuilding the file fails here.
    assert bench.manifest["recipe"] == recipe.to_dict()
    assert (len(bench), bench.n_train) == (recipe.circuits, recipe.train)
    assert bench.manifest["simulator"].startswith("ngspice-")
    topologies = len(set(bench["topology"].tolist()))
    assert topologies <= -(-recipe.pool // recipe.reuse)  # K-reuse: one topology per K draws
    assert 0.9 < bench["valid"].mean() < 1.0
    assert bench.circuit(0).validate().nodes[0].type == 0


def test_ocb301_meets_the_distribution_targets():
    # summarize() of the original 50,000-row perform301.csv, stored (tests/data/README.md)
    original = json.loads((DATA / "perform301_summary.json").read_text())["summary"]
    ours = summarize(Labels.of(load_benchmark("ocb301")))
    c = compare(ours, original)
    assert all(g["max_pp"] <= 5 for g in c["class_share_gap"].values()), c
    assert abs(c["joint_train_ratio"] - 1) <= 0.15, c


@pytest.mark.ngspice
def test_ocb101_rebuilds_bit_for_bit(tmp_path):
    """`dataset build --recipe ocb101` reproduces the shipped file byte for byte (≈ 30 s)."""
    from cktgen_eda.data.build import build_benchmark
    from cktgen_eda.data.store import write_benchmark

    out = write_benchmark(build_benchmark(get_recipe("ocb101")), tmp_path / "ocb101.npz")
    assert out.read_bytes() == shipped_benchmarks()["ocb101"].read_bytes()


# Rows stable open loop, stable at unity gain, both, working (both and gain > 0 dB).
STABILITY = {
    "ocb101": {"stable": 3488, "cl_stable": 1288, "both": 820, "working": 792},
    "ocb301": {"stable": 16639, "cl_stable": 3922, "both": 2208, "working": 2130},
}


@pytest.mark.parametrize("name", ["ocb101", "ocb301"])
def test_shipped_stability_shares_are_the_documented_ones(name):
    bench = load_benchmark(name)
    for key in ("stable", "cl_stable"):
        assert bench[key].dtype == np.bool_ and bench[key].shape == (len(bench),)
    # every generated OCB circuit got a verdict (none stored False for being unknown)
    assert bench.manifest["stability"] == {"measured": True, "unknown_rows": 0}
    shares = summarize(Labels.of(bench))["stability"]
    assert {k: v["rows"] for k, v in shares.items()} == STABILITY[name]
    row = f"| `{name}` | " + " | ".join(
        f"{v['rows']:,} ({100 * v['share']:.1f} %)" for v in shares.values()
    )
    assert row in (ROOT / "docs" / "datasets.md").read_text(), row


def _rows_of_each_verdict(bench, per_kind: int) -> list[int]:
    """The first ``per_kind`` rows of each (stable, cl_stable) combination."""
    kinds = bench["stable"].astype(int) * 2 + bench["cl_stable"]
    return [int(i) for k in range(4) for i in np.flatnonzero(kinds == k)[:per_kind]]


@pytest.mark.ngspice
def test_shipped_verdicts_agree_with_a_fresh_verify():
    from cktgen_eda.netlist.ngspice import verify

    for name, per_kind in (("ocb101", 4), ("ocb301", 2)):
        bench = load_benchmark(name)
        rows = _rows_of_each_verdict(bench, per_kind)
        results = verify([bench.circuit(i) for i in rows], workers=1)
        for i, r in zip(rows, results):
            m = r.measurement
            assert (m.stable, m.cl_stable) == (bench["stable"][i], bench["cl_stable"][i]), (name, i)
            assert m.valid == bench["valid"][i], (name, i)
            assert not m.valid or m.gain_db == bench["gain_db"][i], (name, i)
