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


@pytest.mark.parametrize("kind", ["fifo", "directory", "symlink"])
def test_force_never_replaces_anything_but_a_regular_file(tmp_path, kind):
    from click.testing import CliRunner

    from cktgen_eda.cli import cli

    target = tmp_path / "out.cir"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "directory":
        target.mkdir()
    else:
        (tmp_path / "real.cir").write_text("keep me\n")
        target.symlink_to(tmp_path / "real.cir")
    before = os.lstat(target).st_mode
    res = CliRunner().invoke(
        cli, ["to-spice", str(EXAMPLES / "two_stage_miller.json"), "-o", str(target), "--force"]
    )
    if kind == "directory":  # click refuses a directory for -o before the command runs
        assert res.exit_code == 2 and "directory" in res.output
    else:
        assert res.exit_code == 1 and "not a regular file" in res.output
    assert "Traceback" not in res.output
    assert os.lstat(target).st_mode == before  # still the FIFO, directory or link
    if kind == "symlink":
        assert (tmp_path / "real.cir").read_text() == "keep me\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.cir.")]


def test_exactly_one_of_many_racing_writers_creates_a_new_file(tmp_path):
    import threading

    from cktgen_eda.errors import CktGenError
    from cktgen_eda.fileio import atomic_write

    target, wins, losses = tmp_path / "race.txt", [], []

    def write(k: int) -> None:
        try:
            atomic_write(target, f"writer {k}\n", force=False)
            wins.append(k)
        except CktGenError:
            losses.append(k)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and len(losses) == 11
    assert target.read_text() == f"writer {wins[0]}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["race.txt"]


_VERIFY_SLOW = """
import sys
from cktgen_eda.netlist import workers
start = workers.Worker.__init__
def init(self, *a, **k):
    start(self, *a, **k)
    print("PID", self.proc.pid, flush=True)
workers.Worker.__init__ = init
from cktgen_eda.netlist.ngspice import verify
verify([sys.argv[1]] * 4, workers=2, timeout_s=120)
"""


def _slow_deck(path) -> None:
    """An RC ladder ngspice needs ~5 s for; ``.param`` keeps the parent's exact analysis
    (which would be a 40,000² eigenproblem) out of it."""
    lines = ["* slow ladder", ".param rv=1k", "V1 in 0 AC 1", "G1 n0 0 in 0 1m"]
    prev = "n0"
    for i in range(20000):
        lines += [f"R{i} {prev} m{i} {{rv}}", f"C{i} m{i} 0 1p"]
        prev = f"m{i}"
    lines += [f"RO {prev} out 1k", "CO out 0 1p", ".end"]
    path.write_text("\n".join(lines) + "\n")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return "\nState:\tZ" not in fh.read()
    except FileNotFoundError:
        return False


@pytest.mark.ngspice
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_workers_die_with_their_parent_mid_simulation(tmp_path, sig):
    import signal
    import time

    deck = tmp_path / "slow.cir"
    _slow_deck(deck)
    env = dict(os.environ, CKTGEN_EDA_LOAD_PLUGINS="0")
    proc = subprocess.Popen(
        [sys.executable, "-c", _VERIFY_SLOW, str(deck)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    pids = []
    try:
        while len(pids) < 2:
            line = proc.stdout.readline()
            assert line, "verify ended before starting two workers"
            if line.startswith("PID"):
                pids.append(int(line.split()[1]))
        time.sleep(1.5)  # both workers are inside a ~5 s ngspice run now
        assert all(_alive(p) for p in pids)
        proc.send_signal(getattr(signal, sig))
        proc.wait(timeout=30)
        deadline = time.monotonic() + 2.0  # well before their runs would end
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(p) for p in pids)
    finally:
        proc.kill()
        for p in pids:
            if _alive(p):
                os.kill(p, signal.SIGKILL)


@pytest.mark.parametrize("value", ["0", "false", "No", " off ", "FALSE"])
def test_plugin_switch_understands_the_usual_words_for_off(monkeypatch, value):
    from cktgen_eda.plugins import third_party_enabled

    monkeypatch.setenv("CKTGEN_EDA_LOAD_PLUGINS", value)
    assert not third_party_enabled()
    monkeypatch.setenv("CKTGEN_EDA_LOAD_PLUGINS", "1")
    assert third_party_enabled()


def test_a_huge_deck_is_refused_by_the_exact_analysis_before_it_allocates():
    """A 20,000-section ladder would need 13 GB dense matrices in the parent."""
    import time

    from cktgen_eda.errors import NetlistError
    from cktgen_eda.netlist.mna import MAX_UNKNOWNS, pencil_from_deck

    lines = ["* ladder", "V1 in 0 AC 1", "G1 n0 0 in 0 1m"]
    for i in range(20000):
        lines += [f"R{i} {'n0' if i == 0 else f'm{i - 1}'} m{i} 1k", f"C{i} m{i} 0 1p"]
    lines += ["RO m19999 out 1k", ".end"]
    t = time.perf_counter()
    with pytest.raises(NetlistError, match=f"takes \\({MAX_UNKNOWNS}"):
        pencil_from_deck("\n".join(lines))
    assert time.perf_counter() - t < 5
