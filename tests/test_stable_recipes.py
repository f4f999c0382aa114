"""Benchmarks of working amplifiers (recipes with ``keep = "working"``): stable101/stable301."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from nodal import exact_poles

from cktgen_eda.cli import cli
from cktgen_eda.data.recipes import Recipe, get_recipe
from cktgen_eda.data.store import read_benchmark
from cktgen_eda.errors import CktGenError


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """stable101's code path at 60 circuits, built twice."""
    folder = tmp_path_factory.mktemp("stable")
    paths = [folder / "a.npz", folder / "b.npz"]
    for path in paths:
        args = ["dataset", "build", "--recipe", "stable101", "-n", "60", "-o", str(path)]
        r = CliRunner().invoke(cli, args)
        assert r.exit_code == 0, r.output
    return paths


@pytest.mark.ngspice
def test_a_working_recipe_rebuilds_byte_for_byte(built):
    a, b = built
    assert a.read_bytes() == b.read_bytes()
    bench = read_benchmark(a)
    screening = bench.manifest["screening"]
    assert screening["kept"] == len(bench) == 60
    assert screening["generated"] > screening["screened_working"] >= 60


@pytest.mark.ngspice
def test_every_stored_circuit_is_a_working_amplifier_by_independent_poles(built):
    """Own matrices and 40-digit eigenvalues (tests/nodal.py), not the library's verdicts."""
    bench = read_benchmark(built[0])
    labels = bench.arrays
    for i in range(len(bench)):
        assert labels["valid"][i] and labels["gain_db"][i] > 0
        assert labels["stable"][i] and labels["cl_stable"][i]
        open_loop, closed_loop = exact_poles(bench.circuit(i), digits=30)
        assert max(p.real for p in open_loop) < 0, i
        assert max(p.real for p in closed_loop) < 0, i


def test_recipes_name_the_keep_rule():
    assert get_recipe("stable101").keep == "working" and get_recipe("ocb101").keep == "all"
    assert "keep" not in get_recipe("ocb101").to_dict()  # older manifests stay byte-identical
    with pytest.raises(CktGenError, match="keep must be one of all, working"):
        Recipe.from_dict(
            "x", {"description": "x", "circuits": 1, "train": 1, "seed": 1, "keep": "some"}
        )


@pytest.mark.ngspice
def test_a_pool_without_enough_working_circuits_says_so(tmp_path):
    from dataclasses import replace

    from cktgen_eda.data.build import build_benchmark

    recipe = replace(get_recipe("stable101"), circuits=50, train=40, pool=100)
    with pytest.raises(CktGenError, match="raise its pool"):
        build_benchmark(recipe)
