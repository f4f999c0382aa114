"""Recipes are data: shipped table, checked keys, scaled copies."""

from __future__ import annotations

import pytest

from cktgen_eda.data.recipes import Recipe, get_recipe, load_recipes
from cktgen_eda.errors import CktGenError


def test_shipped_recipes_match_the_ocb_splits():
    r = load_recipes()
    assert (r["ocb101"].circuits, r["ocb101"].train, r["ocb101"].reuse) == (10000, 9000, 20)
    assert (r["ocb301"].circuits, r["ocb301"].train, r["ocb301"].pool) == (50000, 40000, 100000)


def test_with_counts_scales_split_and_pool():
    r = get_recipe("ocb301").with_counts(500, seed=5)
    assert (r.circuits, r.train, r.pool, r.seed) == (500, 400, 1000, 5)
    assert r.settings == get_recipe("ocb301").settings


BASE = {"description": "x", "circuits": 10, "train": 9, "seed": 1}


@pytest.mark.parametrize(
    "table, message",
    [
        (
            {"description": "x", "circuits": 10, "train": 9, "seed": 1, "colour": 1},
            "unknown key 'colour'",
        ),
        ({"description": "x", "circuits": 10, "train": 9}, "missing key 'seed'"),
        ({"description": "x", "circuits": 10, "train": 11, "seed": 1}, "train must be"),
        ({"description": "x", "circuits": "10", "train": 9, "seed": 1}, "circuits must be int"),
        (
            {"description": "x", "circuits": 10, "train": 9, "seed": 1, "p_side": "a"},
            "p_side must be a number",
        ),
    ],
)
def test_bad_recipe_tables_name_the_key(table, message):
    with pytest.raises(CktGenError, match=message):
        Recipe.from_dict("bad", table)


def test_unknown_recipe_lists_known_ones():
    with pytest.raises(CktGenError, match="known: ocb101, ocb301"):
        get_recipe("ocb999")
