"""ngspice on a Dask cluster (netlist/cluster.py): the local pool's bytes and JSON, no lost work.

One ``LocalCluster`` of two worker processes (one thread each) serves the whole module; the
tests compare against local runs of the same work.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from dataclasses import replace

import pytest
from click.testing import CliRunner
from helpers import EXAMPLES, ROOT, random_circuits

from cktgen_eda.cli import cli
from cktgen_eda.errors import CktGenError, SimulationError
from cktgen_eda.netlist import cluster as cl
from cktgen_eda.netlist.ngspice import verify


@pytest.fixture(scope="module")
def cluster():
    """``use_cluster("local:2")``, left open for the module; the tests run locally unless they
    enter ``use_cluster`` themselves (the inner block holds the local pool)."""
    pytest.importorskip("distributed")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(cl.ENV, raising=False)
        with cl.use_cluster("local:2") as c, cl.use_cluster(None):
            assert cl.active() is None
            c.client.wait_for_workers(2, timeout=60)
            yield c


def _build(args: list[str]) -> None:
    r = CliRunner().invoke(cli, ["dataset", "build", *args])
    assert r.exit_code == 0, r.output


@pytest.mark.ngspice
def test_a_build_on_the_cluster_is_byte_identical(cluster, tmp_path):
    """A working recipe: screened locally by the exact engine, labelled on the cluster."""
    a, b = tmp_path / "local.npz", tmp_path / "cluster.npz"
    _build(["--recipe", "stable101", "-n", "60", "-o", str(a)])
    _build(["--recipe", "stable101", "-n", "60", "-o", str(b), "--cluster", cluster.address])
    assert a.read_bytes() == b.read_bytes()


def _kill_once(marker: str):
    """A worker plugin that SIGKILLs its worker 5 ms into the first ngspice chunk that any
    worker starts (the marker file, made exclusively, says it has fired)."""
    from distributed import WorkerPlugin

    class KillOnce(WorkerPlugin):
        def transition(self, key, start, finish, **kwargs):
            if finish != "executing" or "run_chunk" not in str(key):
                return
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return
            os.write(fd, str(key).encode())
            os.close(fd)
            import signal
            import threading

            threading.Timer(0.005, os.kill, (os.getpid(), signal.SIGKILL)).start()

    return KillOnce()


@pytest.mark.ngspice
def test_a_worker_killed_mid_build_loses_no_work(cluster, tmp_path):
    from cktgen_eda.data.build import build_benchmark
    from cktgen_eda.data.recipes import get_recipe
    from cktgen_eda.data.store import write_benchmark

    client = cluster.client
    recipe = get_recipe("ocb101").with_counts(400, None)
    write_benchmark(build_benchmark(recipe), tmp_path / "local.npz")
    before = set(client.run(os.getpid).values())
    marker = tmp_path / "killed"
    client.register_plugin(_kill_once(str(marker)), name="kill-once")
    try:
        with cl.use_cluster(cluster.address, chunk_size=16):
            write_benchmark(build_benchmark(recipe), tmp_path / "cluster.npz")
    finally:
        client.unregister_worker_plugin("kill-once")
    # the chunk in flight was lost with its worker and run again on a live one
    key = marker.read_text()
    story = client.story(key)  # (where, key, start, finish, …) transitions
    assert sum(t[3] == "processing" for t in story) == 2, [t[2:4] for t in story]
    client.wait_for_workers(2, timeout=60)  # the nanny restarts the killed one
    assert len(before - set(client.run(os.getpid).values())) == 1
    assert (tmp_path / "local.npz").read_bytes() == (tmp_path / "cluster.npz").read_bytes()


@pytest.mark.ngspice
def test_verify_json_on_the_cluster_equals_the_local_run(cluster, tmp_path):
    files = [str(p) for p in sorted(EXAMPLES.glob("*.json"))]
    for k, c in enumerate(random_circuits(24, seed=3)):
        c.save(tmp_path / f"c{k}.json")
        files.append(str(tmp_path / f"c{k}.json"))
    args = ["verify", *files, "--spec", "gain>=60dB,ugf>=100MHz", "--json"]
    local = CliRunner().invoke(cli, args)
    remote = CliRunner().invoke(cli, [*args, "--cluster", cluster.address])
    assert local.exit_code == remote.exit_code == 0, remote.output
    assert json.loads(remote.stdout) == json.loads(local.stdout)  # no timing fields in it


@pytest.mark.ngspice
def test_a_failing_task_fails_its_circuits_only(cluster, monkeypatch):
    circuits = random_circuits(20, seed=5)
    good = verify(circuits[10:])

    def flaky(payloads, timeout_s):  # a local function: pickled by value
        from cktgen_eda.netlist.cluster import run_chunk  # the worker's, not patched

        if payloads[0][3] == "circuit 0":
            raise RuntimeError("injected failure")
        return run_chunk(payloads, timeout_s)

    monkeypatch.setattr(cl, "run_chunk", flaky)
    with cl.use_cluster(cluster.address, chunk_size=10):
        results = verify(circuits)
    for r in results[:10]:
        assert not r.measurement.valid and r.measurement.stable is not None
        assert "failed on the Dask cluster (RuntimeError: injected failure)" in r.error
        assert r.error.startswith("ngspice ") and r.measurement.reason == r.error
    assert [r.measurement.to_dict() for r in results[10:]] == [
        replace(r.measurement, file=f"circuit {k + 10}").to_dict() for k, r in enumerate(good)
    ]


@pytest.mark.ngspice
def test_a_chunk_that_keeps_killing_workers_fails_its_circuits(cluster, monkeypatch):
    """KilledWorker (here after one death: allowed-failures set to 0) fails the chunk."""
    client = cluster.client

    def allow(n, dask_scheduler=None):
        old, dask_scheduler.allowed_failures = dask_scheduler.allowed_failures, n
        return old

    def crash(payloads, timeout_s):
        import signal

        os.kill(os.getpid(), signal.SIGKILL)

    monkeypatch.setattr(cl, "run_chunk", crash)
    old = client.run_on_scheduler(allow, 0)
    try:
        with cl.use_cluster(cluster.address):
            results = verify(random_circuits(4))
    finally:
        client.run_on_scheduler(allow, old)
    for r in results:
        assert not r.measurement.valid
        assert "failed on the Dask cluster (KilledWorker: Attempted to run task" in r.error
    client.wait_for_workers(2, timeout=60)


@pytest.mark.ngspice
def test_a_worker_that_cannot_run_ngspice_stops_the_batch(cluster, monkeypatch):
    def broken(payloads, timeout_s):
        from cktgen_eda.errors import SimulationError

        raise SimulationError("cannot load libngspice through PySpice: gone")

    monkeypatch.setattr(cl, "run_chunk", broken)
    with cl.use_cluster(cluster.address), pytest.raises(SimulationError) as info:
        verify(random_circuits(3))
    assert str(info.value) == ("on the Dask cluster: cannot load libngspice through PySpice: gone")


def test_a_daemonic_worker_says_how_to_start_workers(monkeypatch):
    proc = multiprocessing.current_process()
    monkeypatch.setitem(proc._config, "daemon", True)
    with pytest.raises(SimulationError, match="DASK_DISTRIBUTED__WORKER__DAEMON=False"):
        cl.run_chunk([], 1.0)


@pytest.mark.parametrize(
    "value, why",
    [
        ("local:0", "expected local:N with N worker processes, 1 to 64"),
        ("local", "expected local:N"),
        ("ftp://head:8786", "expected a scheduler address"),
        ("head", "expected a scheduler address"),
        ("head:99999", "expected a scheduler address"),
    ],
)
def test_a_malformed_cluster_is_a_one_line_usage_error(value, why):
    r = CliRunner().invoke(
        cli, ["verify", str(EXAMPLES / "two_stage_miller.json"), "--cluster", value]
    )
    assert r.exit_code == 2
    assert r.output.startswith(f"Error: --cluster {value!r}: {why}") and r.output.count("\n") == 1


def test_addresses_that_parse():
    assert cl.parse_address("local:3") == ("local", 3)
    for text in ("tcp://10.0.0.1:8786", "tls://head:8786", "head.cluster:8786", "[::1]:8786"):
        assert cl.parse_address(text) == ("scheduler", text)


def test_an_unreachable_scheduler_is_a_one_line_error(monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(cl, "CONNECT_TIMEOUT_S", 1.0)
    args = ["verify", str(EXAMPLES / "two_stage_miller.json"), "--cluster", "127.0.0.1:9"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 1
    assert r.output == "Error: cannot reach the Dask scheduler at 127.0.0.1:9 within 1 s\n"


def test_without_dask_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails as if not installed
    args = ["verify", str(EXAMPLES / "two_stage_miller.json"), "--cluster", "local:2"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 1
    assert r.output == (
        "Error: --cluster needs dask.distributed: pip install 'cktgen-eda[cluster]'\n"
    )


def test_the_environment_variable_names_the_scheduler(cluster, monkeypatch):
    monkeypatch.setenv(cl.ENV, cluster.address)
    with cl.use_cluster() as c:
        assert cl.active() is c and c.address == cluster.address
        with cl.use_cluster(None):  # still the variable
            assert cl.active().address == cluster.address
    monkeypatch.setenv(cl.ENV, "")
    with cl.use_cluster() as c:
        assert c is None and cl.active() is None
    with pytest.raises(CktGenError, match=r"^\$CKTGEN_EDA_DASK_SCHEDULER 'x': expected"):
        monkeypatch.setenv(cl.ENV, "x")
        with cl.use_cluster():
            pass


@pytest.mark.ngspice
def test_the_local_path_never_imports_dask():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from cktgen_eda.cli import cli\n"
        f"r = CliRunner().invoke(cli, ['verify', {str(EXAMPLES / 'two_stage_miller.json')!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        "print(','.join(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))"
    )
    env = {k: v for k, v in os.environ.items() if k != cl.ENV}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env=env
    )
    assert out.stdout.strip() == ""
