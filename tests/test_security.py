"""Files from users are hostile: nothing in them, or next to them, may run code."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import EXAMPLES


@pytest.mark.ngspice
@pytest.mark.parametrize("where", ["cwd", "home"])
def test_spiceinit_in_the_users_folders_never_runs(tmp_path, where):
    """libngspice runs .spiceinit (shell commands included) from the working folder, else
    HOME; the workers start in a private empty folder instead."""
    folder = tmp_path / "user"
    folder.mkdir()
    marker = tmp_path / "marker"
    (folder / ".spiceinit").write_text(f"* init\nshell touch {marker}\necho ran-spiceinit\n")
    env = dict(os.environ, CKTGEN_EDA_LOAD_PLUGINS="0")
    cwd = folder if where == "cwd" else tmp_path
    if where == "home":
        env["HOME"] = str(folder)
    done = subprocess.run(
        [sys.executable, "-m", "cktgen_eda", "verify", str(EXAMPLES / "two_stage_miller.json")],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert not marker.exists()
    assert "ran-spiceinit" not in done.stdout + done.stderr
