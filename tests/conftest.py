"""Shared fixtures: circuits built in code, the shared benchmark data, a seeded generator."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

os.environ.setdefault("CKTGEN_EDA_LOAD_PLUGINS", "0")

from cktgen_eda.circuit import Circuit, Node, load_circuit  # noqa: E402
from cktgen_eda.data.generator import sample_circuit  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
EXAMPLES = ROOT / "examples" / "circuits"


@pytest.fixture
def spectre_example() -> Path:
    path = SHARED / "data" / "ocb_spectre_example.scs"
    if not path.exists():
        pytest.skip("shared/ data not available")
    return path


@pytest.fixture
def two_stage() -> Circuit:
    """Two inverting gm stages with a Miller capacitor (examples/circuits)."""
    return load_circuit(EXAMPLES / "two_stage_miller.json")


@pytest.fixture
def one_stage() -> Circuit:
    """Input → one +gm+ stage (1 mS) → output."""
    return Circuit(
        nodes=(Node(0, 0), Node(6, 2, gm=1e-3), Node(1, 1)), edges=((0, 1), (1, 2))
    ).validate()


def random_circuits(n: int, seed: int = 0) -> list[Circuit]:
    """n random OCB-style circuits from the released generator's procedure."""
    rng = random.Random(seed)
    return [sample_circuit(rng) for _ in range(n)]


def _libngspice_loads() -> bool:
    """True when libngspice loads the way PySpice loads it.

    Tried in a subprocess, so the test process stays free of the library, like every parent
    of ngspice workers.
    """
    import subprocess
    import sys

    name = os.environ.get("NGSPICE_LIBRARY_PATH", "libngspice.so").format("")
    code = f"import ctypes; ctypes.CDLL({name!r})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, check=False)
    return done.returncode == 0


def pytest_collection_modifyitems(config, items):
    """Skip ``ngspice``-marked tests only when libngspice is missing: the rest still run."""
    marked = [item for item in items if "ngspice" in item.keywords]
    if marked and not _libngspice_loads():
        skip = pytest.mark.skip(
            reason="libngspice not found: install Debian libngspice0-dev "
            "or set NGSPICE_LIBRARY_PATH"
        )
        for item in marked:
            item.add_marker(skip)
