"""The shipped benchmarks: intact, built from the current recipes, close to the originals."""

from __future__ import annotations

import pytest
from conftest import SHARED

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
    path = SHARED / "data" / "perform301.csv"
    if not path.exists():
        pytest.skip("shared/ data not available")
    ours = summarize(Labels.of(load_benchmark("ocb301")))
    c = compare(ours, summarize(Labels.from_csv(path)))
    assert all(g["max_pp"] <= 5 for g in c["class_share_gap"].values()), c
    assert abs(c["joint_train_ratio"] - 1) <= 0.15, c


@pytest.mark.ngspice
def test_ocb101_rebuilds_bit_for_bit(tmp_path):
    """`dataset build --recipe ocb101` reproduces the shipped file byte for byte (≈ 30 s)."""
    from cktgen_eda.data.build import build_benchmark
    from cktgen_eda.data.store import write_benchmark

    out = write_benchmark(build_benchmark(get_recipe("ocb101")), tmp_path / "ocb101.npz")
    assert out.read_bytes() == shipped_benchmarks()["ocb101"].read_bytes()
