"""Run ngspice jobs on a Dask distributed cluster instead of local processes (docs/scaling.md).

circuit → netlist → **ngspice on a cluster** → measure → report. ``use_cluster(address)`` makes
every ngspice batch in its block (``ngspice.verify``/``simulate``, hence ``dataset build``,
``verify``, ``evaluate`` and ``design``) go to a ``dask.distributed`` scheduler. The parent
still builds the decks and analyses stability, and applies the verdicts and writes the files
exactly as without a cluster; only the payloads (deck text and a few fields) travel, in
chunks, each one Dask task. A task runs its chunk in a ``workers.Pool`` of one ngspice process
inside the Dask worker, kept alive between tasks, so per-job timeouts and crash isolation are
the local ones. Results come back in input order: the same numbers and bytes as a local run.

Failure semantics: a Dask worker that dies takes its tasks with it and the scheduler runs
them again elsewhere (results are recomputed, never lost); a task that raises, or that killed
``distributed.scheduler.allowed-failures`` + 1 workers (``KilledWorker``), gives each of its
circuits an invalid measurement with the reason, as a crash does locally. A worker that cannot
run ngspice at all (libngspice missing, a daemonic process) stops the batch with
``SimulationError``, as a local worker that cannot start does.

Nothing here imports dask until a cluster is used: without ``--cluster`` the CLI and the
local pool never load it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import CktGenError, SimulationError

__all__ = ["ENV", "Cluster", "active", "parse_address", "use_cluster"]

ENV = "CKTGEN_EDA_DASK_SCHEDULER"  # scheduler address used when none is given
CONNECT_TIMEOUT_S = 5.0  # an unreachable scheduler is an error after this
MISSING = "--cluster needs dask.distributed: pip install 'cktgen-eda[cluster]'"
DAEMONIC = (
    "a Dask worker process is daemonic and cannot start ngspice processes: start the "
    "workers with DASK_DISTRIBUTED__WORKER__DAEMON=False (docs/scaling.md)"
)
MAX_LOCAL_WORKERS = 64
_SCHEMES = ("tcp", "tls", "ucx", "ws", "wss", "inproc")
_HOST_PORT = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[\w.-]+):(\d{1,5})$")


@dataclass
class Cluster:
    """An open connection to a Dask scheduler (what ``use_cluster`` yields).

    Attributes:
        client: the ``distributed.Client``.
        address: the scheduler's address (for ``local:N``, the one the local cluster got).
        chunk_size: circuits per Dask task; None chooses at least eight tasks per worker
            thread, 16–64 circuits each.
    """

    client: Any
    address: str
    chunk_size: int | None = None


_stack: list[Cluster | None] = []  # innermost use_cluster last; None: the local pool
_stack_lock = threading.Lock()


def active() -> Cluster | None:
    """The cluster of the innermost ``use_cluster`` block, or None (the local pool)."""
    return _stack[-1] if _stack else None


def parse_address(text: str) -> tuple[str, Any]:
    """Check a ``--cluster`` value: ``("local", N)`` for ``local:N``, else ``("scheduler",
    address)`` for ``tcp://host:port`` (or another Dask scheme) and ``host:port``.

    Raises:
        ValueError: naming what is wrong with the text.
    """
    text = text.strip()
    if text.lower().startswith("local"):
        n = text[6:] if text[5:6] == ":" else ""
        if not n.isdigit() or not 1 <= int(n) <= MAX_LOCAL_WORKERS:
            raise ValueError(f"expected local:N with N worker processes, 1 to {MAX_LOCAL_WORKERS}")
        return "local", int(n)
    scheme, sep, rest = text.partition("://")
    if sep:
        if scheme.lower() not in _SCHEMES or not rest:
            raise ValueError(f"expected a scheduler address {'|'.join(_SCHEMES)}://HOST:PORT")
        return "scheduler", text
    m = _HOST_PORT.match(text)
    if not m or not 0 < int(m[2]) < 65536:
        raise ValueError("expected a scheduler address (tcp://HOST:PORT or HOST:PORT) or local:N")
    return "scheduler", text


@contextlib.contextmanager
def use_cluster(
    address: str | None = None, chunk_size: int | None = None
) -> Iterator[Cluster | None]:
    """Run the ngspice simulations of this block on a Dask cluster.

    Args:
        address: ``tcp://host:port`` or ``host:port`` of a running scheduler, or ``local:N``
            to start a ``LocalCluster`` of N worker processes for the block. None: the
            ``CKTGEN_EDA_DASK_SCHEDULER`` environment variable, and without it (or when it
            is empty) the local pool, which also holds inside an enclosing block.
        chunk_size: circuits per Dask task (see ``Cluster``).

    Yields:
        The open ``Cluster``, or None for the local pool.

    Raises:
        CktGenError: dask.distributed is not installed, the address is malformed or the
            scheduler cannot be reached within ``CONNECT_TIMEOUT_S``.

    Example::

        with use_cluster("tcp://head:8786"):
            results = cktgen_eda.verify(circuits)
    """
    if address is None:
        address = os.environ.get(ENV, "").strip() or None
        where = f"${ENV}"
    else:
        where = "--cluster"
    with contextlib.ExitStack() as stack:
        cluster = None if address is None else stack.enter_context(_connect(address, where))
        if cluster is not None:
            cluster.chunk_size = chunk_size
        with _stack_lock:
            _stack.append(cluster)
        try:
            yield cluster
        finally:
            with _stack_lock:
                _stack.pop()


@contextlib.contextmanager
def _connect(address: str, where: str) -> Iterator[Cluster]:
    """A client connected to ``address`` (a local cluster started first for ``local:N``)."""
    try:
        kind, value = parse_address(address)
    except ValueError as exc:
        raise CktGenError(f"{where} {address!r}: {exc}") from None
    try:
        import dask
        from distributed import Client
    except ImportError:
        raise CktGenError(MISSING) from None
    with contextlib.ExitStack() as stack:
        if kind == "local":
            from distributed import LocalCluster

            # Workers start ngspice processes, which a daemonic process may not; the nanny
            # reads this when it (re)starts a worker, so it stays set for the block.
            stack.enter_context(dask.config.set({"distributed.worker.daemon": False}))
            local = stack.enter_context(
                LocalCluster(
                    n_workers=value,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,  # no worker warnings in a CLI's stderr
                )
            )
            value = local.scheduler_address
        try:
            client = Client(value, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except (OSError, TimeoutError):
            raise CktGenError(
                f"cannot reach the Dask scheduler at {value} within {CONNECT_TIMEOUT_S:g} s"
            ) from None
        stack.enter_context(client)
        yield Cluster(client, value)


# ---------------------------------------------------------------------------- parent side
class ClusterRunner:
    """``workers.Pool``'s ``run`` on a cluster: chunks of payloads as Dask tasks.

    Args:
        cluster: the open cluster.
        timeout_s: per-job wall-clock limit, enforced by the pool in each task.
    """

    def __init__(self, cluster: Cluster, timeout_s: float) -> None:
        self.cluster, self.timeout_s = cluster, timeout_s
        self.info: Any = None  # the workers' ngspice version, once a chunk is back
        self.futures: dict[Any, list[int]] = {}

    def run(
        self,
        n: int,
        get: Callable[[int], tuple[Any, int]],
        fail: Callable[[int, str], Any],
        progress: Callable[[int], Any],
    ) -> list[Any]:
        """Process ``n`` jobs (as ``Pool.run``); results in input order.

        Chunks are submitted as soon as they are made, so the parent's deck building and
        stability analysis overlap the cluster's work; ``progress`` advances by a chunk's
        circuits when its task completes.
        """
        from distributed import as_completed

        from .workers import Skip

        client = self.cluster.client
        size = self.cluster.chunk_size or _chunk_size(n, sum(client.nthreads().values()))
        results: list[Any] = [None] * n
        done = as_completed(loop=client.loop, with_results=True, raise_errors=False)
        indices: list[int] = []
        payloads: list[Any] = []

        def submit() -> None:
            future = client.submit(run_chunk, list(payloads), self.timeout_s, pure=False)
            self.futures[future] = list(indices)
            done.add(future)
            indices.clear()
            payloads.clear()

        def take(batch: list[tuple[Any, Any]]) -> None:
            for future, value in batch:
                chunk = self.futures.pop(future)
                if future.status == "finished":
                    self.info, part = value
                    for i, r in zip(chunk, part):
                        results[i] = r
                else:
                    exc = value[1] if isinstance(value, tuple) else value
                    if isinstance(exc, SimulationError):  # the worker cannot run ngspice
                        raise SimulationError(f"on the Dask cluster: {exc}") from None
                    why = f"failed on the Dask cluster ({type(exc).__name__}: {_first(exc)})"
                    for i in chunk:
                        results[i] = fail(i, why)
                progress(len(chunk))

        for i in range(n):
            try:
                payload, _ = get(i)
            except Skip as skip:
                results[i] = skip.result
                progress(1)
                continue
            indices.append(i)
            payloads.append(payload)
            if len(payloads) == size:
                submit()
            if done.has_ready():
                take(done.next_batch(block=False))
        if payloads:
            submit()
        while self.futures:
            take(done.next_batch(block=True))
        return results

    def close(self) -> None:
        """Cancel the tasks still out (after an error or Ctrl-C)."""
        if self.futures:
            self.cluster.client.cancel(list(self.futures))
            self.futures.clear()


def _chunk_size(n: int, threads: int) -> int:
    """At least eight tasks per worker thread, 16–64 circuits each: a task costs a few ms of
    scheduling against ≈ 2.5 ms of ngspice per circuit, and small ones even out the end."""
    return max(16, min(64, math.ceil(n / (8 * max(1, threads)))))


def _first(exc: BaseException) -> str:
    """The first sentence of an exception's message, at most 200 characters."""
    text = " ".join(str(exc).split()) or "no message"
    return text.split(". ")[0][:200]


# ---------------------------------------------------------------------------- worker side
_idle: list[Any] = []  # ngspice pools free for the next task (one per task running at once)
_idle_lock = threading.Lock()


def run_chunk(payloads: list[tuple], timeout_s: float) -> tuple[str, list]:
    """Dask task: run ngspice payloads in this worker's local pool; ``(version, results)``.

    The pool (one ngspice process) outlives the task, so libngspice loads once per worker
    thread; a payload that crashes or hangs fails alone, as locally.

    Raises:
        SimulationError: the worker cannot start ngspice processes.
    """
    if multiprocessing.current_process().daemon:
        raise SimulationError(DAEMONIC)
    from . import ngspice

    with _idle_lock:
        pool = _idle.pop() if _idle else None
    if pool is None:
        pool = ngspice.local_pool(1, timeout_s)
    pool.timeout_s = timeout_s

    def fail(i: int, why: str) -> Any:
        return ngspice.failed_result(why, payloads[i][3], pool.info)

    try:
        results = pool.run(
            len(payloads), lambda i: (payloads[i], len(payloads[i][0]) + 100), fail, _ignore
        )
    except BaseException:
        pool.close()
        raise
    with _idle_lock:
        _idle.append(pool)
    return pool.info, results


def worker_version() -> str:
    """Dask task: the libngspice version of the worker."""
    if multiprocessing.current_process().daemon:
        raise SimulationError(DAEMONIC)
    from .ngspice import ngspice_version

    return ngspice_version()


def _ignore(_: int) -> None:
    pass
