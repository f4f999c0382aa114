"""Test helpers shared by several test modules: paths and small data built in code.

Plain functions and constants only; fixtures live in conftest.py. Test modules import from
here (``from helpers import small_bench``), never from another ``test_*.py`` module or from
conftest.py. Importing this module does not load torch.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from cktgen_eda.circuit import Circuit
from cktgen_eda.data.generator import generate, sample_circuit
from cktgen_eda.data.store import Benchmark

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "circuits"
# Small copies and subsets of the Open Circuit Benchmark files (tests/data/README.md).
DATA = ROOT / "tests" / "data"


def random_circuits(n: int, seed: int = 0) -> list[Circuit]:
    """n random OCB-style circuits from the released generator's procedure."""
    rng = random.Random(seed)
    return [sample_circuit(rng) for _ in range(n)]


def small_bench(n: int = 48) -> Benchmark:
    """n generated circuits (one per topology) with made-up labels, all valid; 8 test rows."""
    rows = list(generate(random.Random(0), n, reuse=1))
    rng = np.random.default_rng(0)
    labels = {
        "valid": np.ones(n, bool),
        "gain_db": rng.uniform(-10, 230, n),
        "ugf_hz": rng.uniform(1e7, 4e9, n),
        "pm_deg": rng.uniform(-170, 170, n),
    }
    return Benchmark.from_circuits([c for _, c in rows], labels, n - 8, [t for t, _ in rows])


def synthetic(n: int = 60, seed: int = 0) -> Benchmark:
    """Generated circuits with made-up labels (no simulator): every 7th row invalid."""
    rows = list(generate(random.Random(seed), n, reuse=4))
    rng = np.random.default_rng(seed)
    valid = np.arange(n) % 7 != 3
    labels = {
        "valid": valid,
        "gain_db": rng.uniform(-30, 240, n),
        "ugf_hz": rng.uniform(1e6, 3e10, n),
        "pm_deg": rng.uniform(-179, 180, n),
        "reason": ["" if v else "no unity-gain crossing" for v in valid],
    }
    circuits = [c for _, c in rows]
    return Benchmark.from_circuits(
        circuits, labels, n - n // 10, [t for t, _ in rows], {"name": "synthetic"}
    )


def with_stability(n: int = 60) -> Benchmark:
    """``synthetic`` with made-up verdicts: None (unknown) rows must be stored False."""
    rows = list(generate(random.Random(0), n, reuse=4))
    labels = {
        "valid": np.ones(n, bool),
        "gain_db": np.linspace(-100, 200, n),  # above 0 dB from row 20
        "ugf_hz": np.full(n, 1e9),
        "pm_deg": np.full(n, 60.0),
        "stable": [None if i % 10 == 0 else i % 2 == 0 for i in range(n)],
        "cl_stable": [i % 3 == 0 for i in range(n)],
    }
    return Benchmark.from_circuits([c for _, c in rows], labels, n, manifest={"name": "st"})
