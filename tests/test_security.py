"""Files from users are hostile: nothing in them, or next to them, may run code."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from helpers import EXAMPLES


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
        cli, ["dataset", "import-ocb", str(pkl), str(tmp_path / "perform.csv"), "-o", str(out)]
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


@pytest.mark.parametrize(
    "text, message",
    [
        ("gain>=1e300dB", "gain must lie in -500..500 dB"),
        ("gain<=-1e400dB", "gain must lie in -500..500 dB"),
        ("ugf>=-5MHz", "ugf must lie in 0..1e+15 Hz"),
        ("ugf=1e20Hz..1e21Hz", "ugf must lie in 0..1e+15 Hz"),
        ("pm>=720deg", "pm must lie in -360..360 deg"),
        ("gain>=\uff16\uff10dB", "bad number"),  # full-width digits
        ("pm>=\u0664\u0665deg", "bad number"),  # Arabic-Indic digits
    ],
)
def test_absurd_spec_values_are_refused_with_the_valid_range(text, message):
    """``gain>=1e300dB`` used to suggest ``gain>=-119.531dB``; full-width digits passed."""
    from click.testing import CliRunner

    from cktgen_eda.cli import cli

    res = CliRunner().invoke(
        cli, ["verify", "--engine", "fast", str(EXAMPLES / "two_stage_miller.json"), "--spec", text]
    )
    assert res.exit_code == 1, res.output
    assert message in res.output and "Traceback" not in res.output


def _chain(n: int) -> dict:
    """Circuit JSON of an input, ``n - 2`` resistor stages in a chain, and the output."""
    nodes = [{"type": 0, "pos": 0}] + [{"type": 2, "pos": 2, "r": 1e5}] * (n - 2)
    return {"nodes": nodes + [{"type": 1, "pos": 1}], "edges": [[i, i + 1] for i in range(n - 1)]}


def test_a_huge_circuit_is_refused_at_once_and_the_largest_allowed_validates_fast(tmp_path):
    """Validation was quadratic: a 20,000-node circuit took 21 s in the parent."""
    import json
    import time

    from click.testing import CliRunner

    from cktgen_eda.circuit import MAX_NODES, Circuit
    from cktgen_eda.cli import cli
    from cktgen_eda.netlist.testbench import build_testbench

    big = tmp_path / "big.json"
    big.write_text(json.dumps(_chain(20 * MAX_NODES)))
    t = time.perf_counter()
    res = CliRunner().invoke(cli, ["to-spice", str(big)])
    assert time.perf_counter() - t < 2.0
    assert res.exit_code == 1 and f"the limit is {MAX_NODES}" in res.output
    assert "Traceback" not in res.output
    t = time.perf_counter()
    build_testbench(Circuit.from_dict(_chain(MAX_NODES)))
    assert time.perf_counter() - t < 1.0


@pytest.mark.parametrize("source", ["/dev/zero", "big"])
def test_input_files_are_read_up_to_a_bound(tmp_path, source):
    """``verify /dev/zero`` read until memory ran out."""
    from click.testing import CliRunner

    from cktgen_eda.cli import cli
    from cktgen_eda.fileio import MAX_INPUT_BYTES

    if source == "big":
        path = tmp_path / "big.cir"
        with open(path, "wb") as fh:
            fh.truncate(MAX_INPUT_BYTES + 1)  # sparse: no disk used
        source = str(path)
    res = CliRunner().invoke(cli, ["verify", "--engine", "fast", source])
    assert res.exit_code == 1, res.output
    assert "the limit for input files" in res.output and "Traceback" not in res.output


@pytest.mark.parametrize(
    "args", [["--help"], ["to-spice", str(EXAMPLES / "two_stage_miller.json")], ["plugins"]]
)
@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_stdout_is_one_error_line(args):
    """``cktgen-eda … > /dev/full`` ended in a traceback."""
    env = dict(os.environ, CKTGEN_EDA_LOAD_PLUGINS="0")
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "cktgen_eda", *args],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=60,
        )
    assert done.returncode == 1
    assert done.stderr.strip() == "Error: cannot write output: No space left on device"


def test_a_closed_pipe_ends_quietly():
    env = dict(os.environ, CKTGEN_EDA_LOAD_PLUGINS="0")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cktgen_eda", "--help"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    proc.stdout.close()  # the reader went away before the help was written
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in (0, 1) and b"Traceback" not in err


@pytest.mark.ngspice
def test_verify_plots_need_force_to_replace_and_are_checked_before_simulating(tmp_path):
    """``verify --plot DIR`` overwrote existing plots without ``--force``."""
    from click.testing import CliRunner

    from cktgen_eda.cli import cli

    amp = str(EXAMPLES / "two_stage_miller.json")
    plots = tmp_path / "plots"
    plots.mkdir()
    (plots / "two_stage_miller.png").write_bytes(b"mine")
    args = ["verify", amp, "--plot", str(plots)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 1 and "use --force" in res.output
    assert "gain" not in res.output  # refused before any simulation: no table
    assert (plots / "two_stage_miller.png").read_bytes() == b"mine"
    res = CliRunner().invoke(cli, [*args, "--force"])
    assert res.exit_code == 0, res.output
    assert (plots / "two_stage_miller.png").read_bytes()[:4] == b"\x89PNG"
    os.unlink(plots / "two_stage_miller.png")
    os.mkfifo(plots / "two_stage_miller.png")
    res = CliRunner().invoke(cli, [*args, "--force"])
    assert res.exit_code == 1 and "not a regular file" in res.output


def test_evaluate_plot_target_is_checked_before_the_search(tmp_path):
    """``evaluate --plot`` overwrote an existing file, and only after minutes of work."""
    import time

    from click.testing import CliRunner

    from cktgen_eda.cli import cli

    png = tmp_path / "ad.png"
    png.write_bytes(b"mine")
    t = time.perf_counter()
    res = CliRunner().invoke(cli, ["evaluate", "--task", "auto-design", "--plot", str(png)])
    assert res.exit_code == 1 and "use --force" in res.output
    assert time.perf_counter() - t < 5 and png.read_bytes() == b"mine"
    res = CliRunner().invoke(
        cli, ["evaluate", "--task", "auto-design", "--plot", str(tmp_path / "no" / "ad.png")]
    )
    assert res.exit_code == 1 and "does not exist" in res.output


def test_design_out_is_checked_before_the_search(tmp_path):
    from click.testing import CliRunner

    from cktgen_eda.cli import cli

    (tmp_path / "file").write_text("x")
    res = CliRunner().invoke(
        cli, ["design", "--spec", "gain>=60dB", "--out-dir", str(tmp_path / "file" / "sub")]
    )
    assert res.exit_code == 1 and "is not a folder" in res.output


@pytest.mark.parametrize("force", [False, True])
def test_several_files_appear_all_or_nothing(tmp_path, monkeypatch, force):
    from cktgen_eda.errors import CktGenError
    from cktgen_eda.fileio import write_files

    old = tmp_path / "a.txt"
    if force:
        old.write_text("old a\n")
    os.mkfifo(tmp_path / "c.txt")
    files = {old: "new a\n", tmp_path / "b.txt": "new b\n", tmp_path / "c.txt": "new c\n"}
    with pytest.raises(CktGenError, match="c.txt is a FIFO"):
        write_files(files, force=force)  # refused before anything is written
    os.unlink(tmp_path / "c.txt")
    # a failure while moving the files into place undoes the ones already there
    real_link, real_replace, moved = os.link, os.replace, []

    def flaky(move):
        def run(src, dst, *a, **k):
            if str(dst).endswith("c.txt"):
                raise OSError(28, "No space left on device")
            moved.append(dst)
            return move(src, dst, *a, **k)

        return run

    monkeypatch.setattr(
        os, "replace" if force else "link", flaky(real_replace if force else real_link)
    )
    with pytest.raises(CktGenError, match="c.txt: No space left"):
        write_files(files, force=force)
    assert moved  # a.txt and b.txt were in place before c.txt failed
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == (["a.txt"] if force else [])
    if force:
        assert old.read_text() == "old a\n"


def test_generate_out_is_all_or_nothing(tmp_path):
    """A FIFO among the candidate names: old main wrote the first files, then failed."""
    from click.testing import CliRunner

    from cktgen_eda.cli import cli

    out = tmp_path / "cands"
    out.mkdir()
    os.mkfifo(out / "candidate_002.json")
    args = ["generate", "--spec", "gain>=60dB", "-n", "4", "--out-dir", str(out), "--force"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 1 and "candidate_002.json is a FIFO" in res.output
    assert sorted(p.name for p in out.iterdir()) == ["candidate_002.json"]
    os.unlink(out / "candidate_002.json")
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert len(list(out.iterdir())) == 4
