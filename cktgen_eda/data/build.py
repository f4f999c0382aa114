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
    """The recipe's circuits and topology ids, in dataset row order (no simulation).

    Only for ``keep = "all"`` recipes; ``working_rows`` generates the others.
    """
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


def working(labels: dict[str, Any]) -> np.ndarray:
    """Rows that are working amplifiers: valid, stable open loop and at unity gain, gain > 0 dB."""
    gain = np.nan_to_num(labels["gain_db"], nan=-np.inf)
    return labels["valid"] & labels["stable"] & labels["cl_stable"] & (gain > 0)


SCREEN_BATCH = 20000  # circuits generated and screened at a time by working_rows


def working_rows(
    recipe: Recipe, workers: int | None = None, progress: bool = False
) -> tuple[list, list[int], dict[str, Any], dict[str, int]]:
    """A ``keep = "working"`` recipe's rows: circuits, topology ids, ngspice labels, counts.

    The generator runs in batches; the exact engine screens each batch and ngspice labels
    the survivors, and the first ``recipe.circuits`` circuits that pass both are kept in
    generation order, then shuffled with the recipe's generator. Worker counts do not
    change the result.

    Raises:
        CktGenError: when ``recipe.pool`` circuits do not hold enough working ones.
    """
    from ..errors import CktGenError
    from ..netlist.fastac import verify as screen

    rng = random.Random(recipe.seed)
    stream = generate(rng, recipe.pool, recipe.reuse, recipe.settings)
    circuits: list = []
    topology: list[int] = []
    parts: list[dict[str, Any]] = []
    generated = screened = 0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=recipe.circuits, desc="working", unit="ckt", file=sys.stderr)
    while len(circuits) < recipe.circuits and generated < recipe.pool:
        need = recipe.circuits - len(circuits)
        size = min(SCREEN_BATCH, max(2000, 20 * need), recipe.pool - generated)
        batch = [next(stream) for _ in range(size)]
        generated += len(batch)
        fast = [r.measurement for r in screen([c for _, c in batch], workers=workers)]
        passed = [b for b, m in zip(batch, fast) if m.valid and m.works]
        screened += len(passed)
        while passed and len(circuits) < recipe.circuits:
            # label only about as many as are still needed (a small build stays small)
            need = recipe.circuits - len(circuits)
            chunk, passed = passed[: need + need // 20 + 16], passed[need + need // 20 + 16 :]
            labels = label([c for _, c in chunk], workers=workers)
            keep = np.flatnonzero(working(labels))[:need]
            circuits += [chunk[i][1] for i in keep]
            topology += [chunk[i][0] for i in keep]
            parts.append({k: [v[i] for i in keep] for k, v in labels.items()})
            if bar is not None:
                bar.update(len(keep))
    if bar is not None:
        bar.close()
    if len(circuits) < recipe.circuits:
        raise CktGenError(
            f"recipe {recipe.name!r}: {recipe.pool:,} generated circuits hold only "
            f"{len(circuits):,} working amplifiers, {recipe.circuits:,} needed; raise its pool"
        )
    labels = {k: np.array([x for part in parts for x in part[k]]) for k in parts[0]}
    labels["reason"] = list(labels["reason"])
    rows = list(range(len(circuits)))
    if recipe.shuffle:
        rng.shuffle(rows)
    labels = {k: _take(v, rows) for k, v in labels.items()}
    counts = {"generated": generated, "screened_working": screened, "kept": len(circuits)}
    return [circuits[i] for i in rows], [topology[i] for i in rows], labels, counts


def _take(values, rows: list[int]):
    return [values[i] for i in rows] if isinstance(values, list) else values[rows]


def build_benchmark(
    recipe: Recipe, workers: int | None = None, progress: bool = False
) -> Benchmark:
    """Generate and label ``recipe``; the manifest records recipe, seed and simulator."""
    screening = None
    if recipe.keep == "working":
        circuits, topology, labels, screening = working_rows(recipe, workers, progress)
    else:
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
    if screening is not None:
        manifest["screening"] = {"engine": "fast", **screening}
    return Benchmark.from_circuits(circuits, labels, recipe.train, topology, manifest)
