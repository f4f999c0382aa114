"""Shared fixtures: circuits built in code, the vendored benchmark data, a tiny model.

Plain helpers (paths, data builders) live in helpers.py; test modules import them from there.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("CKTGEN_EDA_LOAD_PLUGINS", "0")

from helpers import DATA, EXAMPLES, ROOT, small_bench  # noqa: E402

from cktgen_eda.circuit import Circuit, Node, load_circuit  # noqa: E402

__all__ = ["DATA", "EXAMPLES", "ROOT"]  # kept importable for modules not yet on helpers.py


@pytest.fixture
def spectre_example() -> Path:
    """The Spectre netlist of one OCB circuit, as the original flow wrote it (tests/data)."""
    return DATA / "ocb_spectre_example.scs"


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


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """An untrained tiny CktGen on ``small_bench``'s scheme and its checkpoint: (model, path)."""
    import torch

    from cktgen_eda.data.dataset import clean
    from cktgen_eda.model.cktgen import CktGen
    from cktgen_eda.model.registry import make_config
    from cktgen_eda.training.checkpoint import save_checkpoint

    torch.manual_seed(0)
    cleaned = clean(small_bench())
    model = CktGen(make_config("cktgen", "tiny"), cleaned.scheme).eval()
    path = save_checkpoint(
        tmp_path_factory.mktemp("m") / "tiny.pt", model, {"epoch": 1, "metrics": {"validity": 1.0}}
    )
    return model, path


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


def _kicad_missing() -> str | None:
    """Why the ``kicad``-marked tests cannot run, or None when kicad-cli and pdftoppm exist."""
    import shutil

    if not (os.environ.get("KICAD_CLI") or shutil.which("kicad-cli")):
        return "kicad-cli not found: run `make kicad` (tools/install_kicad.sh) or set KICAD_CLI"
    if not shutil.which("pdftoppm"):
        return "pdftoppm not found: run `make kicad` (installs poppler-utils)"
    return None


def pytest_collection_modifyitems(config, items):
    """Skip ``ngspice``-marked tests only when libngspice is missing, and ``kicad``-marked
    ones only when kicad-cli or pdftoppm is: the rest still run."""
    marked = [item for item in items if "ngspice" in item.keywords]
    if marked and not _libngspice_loads():
        skip = pytest.mark.skip(
            reason="libngspice not found: install Debian libngspice0-dev "
            "or set NGSPICE_LIBRARY_PATH"
        )
        for item in marked:
            item.add_marker(skip)
    marked = [item for item in items if item.get_closest_marker("kicad")]
    why = _kicad_missing() if marked else None
    if why:
        for item in marked:
            item.add_marker(pytest.mark.skip(reason=why))
