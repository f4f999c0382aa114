"""The wheel installs netlist/ and plugins/ inside the package namespace only."""

from __future__ import annotations

import subprocess
import sys
import zipfile

from helpers import ROOT


def test_wheel_layout(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("cktgen_eda-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "cktgen_eda/netlist/spice.py" in names
    assert "cktgen_eda/netlist/ngspice.py" in names
    assert "cktgen_eda/data/recipes.toml" in names
    assert {"cktgen_eda/datasets/ocb101.npz", "cktgen_eda/datasets/ocb301.npz"} <= set(names)
    assert "cktgen_eda/weights/ocb101.pt" in names
    assert {
        "cktgen_eda/weights/evaluators/ocb101.pt",
        "cktgen_eda/weights/evaluators/ocb301.pt",
    } <= set(names)
    assert "cktgen_eda/model/baselines/ldt.py" in names
    assert "cktgen_eda/evaluation/cond_gen.py" in names
    assert "cktgen_eda/plugins/__init__.py" in names
    assert "cktgen_eda/py.typed" in names
    assert not any(n.startswith(("netlist/", "plugins/", "tests/")) for n in names)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "cktgen-eda = cktgen_eda.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
