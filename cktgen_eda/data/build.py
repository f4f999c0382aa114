"""Build a benchmark from a recipe: generator → Circuit → ngspice → labels → ``Benchmark``.

Deterministic: the recipe's seed drives one ``random.Random`` through topology draws, device
values, the pool subset and the shuffle, and ngspice gives the same numbers for the same deck,
so the same recipe builds the same file (docs/datasets.md).
"""

from __future__ import annotations

import random
import sys
from typing import Any

import numpy as np

from .. import __version__
from ..netlist.ngspice import ngspice_version, verify
from .generator import generate
from .recipes import Recipe
from .store import Benchmark, stability_record


def generate_rows(recipe: Recipe, progress: bool = False) -> tuple[list, list[int]]:
    """The recipe's circuits and topology ids, in dataset row order (no simulation)."""
    rng = random.Random(recipe.seed)
    pool = generate(rng, recipe.pool, recipe.reuse, recipe.settings)
    if progress:
        from tqdm import tqdm

        pool = tqdm(pool, total=recipe.pool, desc="generate", unit="ckt", file=sys.stderr)
    pool = list(pool)
    rows = list(range(recipe.pool))
    if recipe.pool > recipe.circuits:
        rows = sorted(rng.sample(rows, recipe.circuits))
    if recipe.shuffle:
        rng.shuffle(rows)
    circuits = [pool[i][1] for i in rows]
    topology = [pool[i][0] for i in rows]
    return circuits, topology


def label(circuits: list, workers: int | None = None, progress: bool = False) -> dict[str, Any]:
    """Simulate every circuit with ngspice; returns the measured label columns.

    ``stable``/``cl_stable`` are the pole-based verdicts, False when unknown, and
    ``pm_loop_deg`` the unity-gain loop's phase margin (NaN when it has no 0 dB crossing);
    ``stability_unknown`` marks those rows (it is not a stored column).
    """
    results = verify(circuits, workers=workers, progress=progress)
    ms = [r.measurement for r in results]
    return {
        "stable": np.array([m.stable is True for m in ms], dtype=bool),
        "cl_stable": np.array([m.cl_stable is True for m in ms], dtype=bool),
        "pm_loop_deg": np.array([np.nan if m.pm_loop_deg is None else m.pm_loop_deg for m in ms]),
        "stability_unknown": np.array(
            [m.stable is None or m.cl_stable is None for m in ms], dtype=bool
        ),
        "valid": np.array([m.valid for m in ms], dtype=bool),
        "gain_db": np.array([np.nan if m.gain_db is None else m.gain_db for m in ms]),
        "ugf_hz": np.array([np.nan if m.ugf_hz is None else m.ugf_hz for m in ms]),
        "pm_deg": np.array([np.nan if m.pm_deg is None else m.pm_deg for m in ms]),
        "reason": [m.reason or "" for m in ms],
    }


def build_benchmark(
    recipe: Recipe, workers: int | None = None, progress: bool = False
) -> Benchmark:
    """Generate and label ``recipe``; the manifest records recipe, seed and simulator."""
    circuits, topology = generate_rows(recipe, progress)
    labels = label(circuits, workers=workers, progress=progress)
    manifest = {
        "name": recipe.name,
        "source": "generated",
        "recipe": recipe.to_dict(),
        "seed": recipe.seed,
        "simulator": ngspice_version(),
        "cktgen_eda": __version__,
        "stability": stability_record(True, int(labels["stability_unknown"].sum())),
    }
    return Benchmark.from_circuits(circuits, labels, recipe.train, topology, manifest)
