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


class _Payload:
    """Unpickling this calls os.system: the classic pickle attack."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _csv(path, rows: int) -> None:
    lines = [",valid,gain,pm,bw,fom"] + [f"{i},1,1.5,1.5,0.5,3.5" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("payload", ["system", "system-in-list", "empty"])
def test_import_ocb_never_runs_code_from_a_pickle(tmp_path, payload):
    import pickle

    from click.testing import CliRunner

    from cktgen_eda.cli import cli

    pytest.importorskip("igraph")
    marker = tmp_path / "marker"
    obj = {"system": _Payload(marker), "system-in-list": [_Payload(marker)], "empty": []}[payload]
    pkl = tmp_path / "evil.pkl"
    pkl.write_bytes(pickle.dumps(obj))
    _csv(tmp_path / "perform.csv", 0 if payload == "empty" else 1)
    out = tmp_path / "out.npz"
    res = CliRunner().invoke(
        cli, ["dataset", "import-ocb", str(pkl), str(tmp_path / "perform.csv"), "--out", str(out)]
    )
    assert res.exit_code == 1
    assert not marker.exists() and not out.exists()
    assert "Traceback" not in res.output
    assert ("no circuits" if payload == "empty" else "refused") in res.output
