"""A small process pool with per-job timeouts, for native code that may crash or hang.

netlist.ngspice → **workers**. The parent hands jobs to worker processes in small chunks over
pipes and gets one message back per job, so it always knows which job each worker is on. A
worker that makes no progress for ``timeout_s`` is killed: its job in flight fails, the rest of
its jobs go back to the front of the queue and a fresh worker takes over. A worker that dies
is handled the same way; workers are recycled after ``recycle_after`` jobs. Knows nothing of
ngspice: the worker side is any ``target(conn)`` that speaks this protocol:

1. send ``("ready", info)`` once started (or ``("failed", message)`` and return);
2. loop: receive a chunk ``[(index, payload), …]`` (or ``None``: return) and send
   ``(index, result)`` for each job, in order.

Payloads are made on demand (``get(index)``), so building jobs in the parent overlaps with the
workers' start-up and work instead of preceding it.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import sys
import time
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import wait
from typing import Any

from ..errors import SimulationError

CHUNK = 16  # jobs per message
PIPE_BUDGET = 48_000  # bytes of unanswered payload per worker, under a pipe's 64 KiB, so the
# parent never blocks writing to a worker that is itself blocked writing results


def forkserver_context(*preload: str) -> Any:
    """A ``forkserver`` context (``spawn`` where there is none) that preloads ``preload``.

    Workers then fork from a clean, single-threaded server instead of from the caller, which
    may hold threads (tqdm, torch). The preload takes effect only if the server is not yet
    running. ``__main__`` is deliberately *not* preloaded: workers run library code only, so a
    user's script needs no ``if __name__ == "__main__"`` guard (importing it again in the
    server would re-run its top level).
    """
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(list(preload))
    return ctx


@contextlib.contextmanager
def _main_hidden():
    """Start a worker without re-importing the caller's ``__main__`` in it.

    multiprocessing re-runs the main script (or ``-m`` module) in a forkserver/spawn child so
    that objects pickled from ``__main__`` resolve. Our workers run library code only, so
    hiding the main module's file and spec lets unguarded user scripts call ``verify``.
    """
    main = sys.modules.get("__main__")
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if main and k in main.__dict__}
    try:
        if "__file__" in saved:
            del main.__file__
        if "__spec__" in saved:
            main.__spec__ = None  # the interpreter expects the attribute to exist
        yield
    finally:
        for key, value in saved.items():
            setattr(main, key, value)


class Skip(Exception):
    """Raised by ``get(index)`` for a job that is already finished (e.g. no deck could be made)."""

    def __init__(self, result: Any) -> None:
        super().__init__()
        self.result = result


class Worker:
    """One worker process, with the parent's record of what it was sent."""

    def __init__(self, ctx: Any, target: Callable[[Any], None]) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=target, args=(child,), daemon=True, name="cktgen-worker")
        with _main_hidden():
            self.proc.start()
        child.close()  # so the parent sees EOF when the worker dies
        self.started = time.monotonic()
        self.ready = False
        self.info: Any = None
        self.pending: deque[tuple[int, int, Any]] = deque()  # (index, bytes, payload) unanswered
        self.pending_bytes = 0
        self.sent = 0
        self.retiring = False
        self.mark = self.started  # when its job in flight started, as far as the parent knows

    def hello(self, msg: Any) -> None:
        """Handle the first message; raise when the worker could not start."""
        if not (isinstance(msg, tuple) and msg[0] == "ready"):
            detail = msg[1] if isinstance(msg, tuple) and msg[0] == "failed" else repr(msg)
            raise SimulationError(f"simulator worker could not start: {detail}")
        self.ready, self.info, self.mark = True, msg[1], time.monotonic()

    def wait_ready(self, timeout_s: float) -> Any:
        """Block until the worker is ready; return its info."""
        if not self.conn.poll(timeout_s):
            self.kill()
            raise SimulationError(f"simulator worker did not start within {timeout_s:g} s")
        try:
            self.hello(self.conn.recv())
        except (EOFError, OSError):
            raise SimulationError(f"simulator worker died on start ({self.exit_text()})") from None
        return self.info

    def exit_text(self) -> str:
        self.proc.join(1.0)
        code = self.proc.exitcode
        return f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"

    def ask_to_exit(self) -> None:
        try:
            self.conn.send(None)
        except OSError:  # already gone
            pass

    def stop(self) -> None:
        """Ask the worker to exit (kill it if it does not within a second)."""
        self.ask_to_exit()
        self.proc.join(1.0)
        self.kill()

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join()
        self.conn.close()


class Pool:
    """Worker processes of ``target`` that run jobs with a per-job timeout (see the module doc).

    Args:
        ctx: a multiprocessing context.
        target: the worker function.
        n_workers: processes working at once.
        timeout_s: per-job wall-clock limit.
        recycle_after: jobs per worker before it is replaced.
        startup_s: how long a worker may take to become ready.
    """

    def __init__(
        self,
        ctx: Any,
        target: Callable[[Any], None],
        n_workers: int,
        timeout_s: float,
        recycle_after: int,
        startup_s: float,
    ) -> None:
        self.ctx, self.target, self.n_workers = ctx, target, n_workers
        self.timeout_s, self.recycle_after, self.startup_s = timeout_s, recycle_after, startup_s
        self.live: list[Worker] = []
        self.info: Any = None

    def run(
        self,
        n: int,
        get: Callable[[int], tuple[Any, int]],
        fail: Callable[[int, str], Any],
        progress: Callable[[int], Any],
    ) -> list[Any]:
        """Process ``n`` jobs; return their results in input order.

        Args:
            n: number of jobs.
            get: ``get(index)`` → ``(payload, approximate pickled bytes)``, called once per
                job in order, just before it is sent; may raise ``Skip``.
            fail: ``fail(index, reason)`` builds the result of a job that timed out or whose
                worker died.
            progress: called with 1 after each finished job.
        """
        self.n, self.get, self.fail, self.progress = n, get, fail, progress
        self.queue: deque[int] = deque(range(n))
        self.made: dict[int, tuple[Any, int]] = {}  # payloads made but not sent (or requeued)
        self.results: list[Any] = [None] * n
        self.done = 0
        while self.done < self.n:
            self._staff()
            for w in self.live:
                self._feed(w)
            if self.done == self.n:  # the last jobs were skipped
                break
            now = time.monotonic()
            timeout = min(max(0.0, self._next_deadline() - now), 1.0)  # wake up at least 1/s
            ready = wait([w.conn for w in self.live], timeout)
            for w in [w for w in self.live if w.conn in ready]:
                self._drain(w)
            now = time.monotonic()
            for w in list(self.live):
                if w in self.live and now > self._deadline(w) and not w.conn.poll():
                    if not w.ready:
                        raise SimulationError(
                            f"simulator worker did not start within {self.startup_s:g} s"
                        )
                    self._lose(w, f"timed out after {self.timeout_s:g} s")
            for w in [w for w in self.live if w.retiring and not w.pending]:
                self.live.remove(w)
                w.stop()
        return self.results

    def close(self) -> None:
        """Stop every worker: idle ones are asked to exit, busy ones are killed."""
        for w in self.live:
            if w.pending:
                w.proc.kill()
            else:
                w.ask_to_exit()
        for w in self.live:
            w.proc.join(1.0)
            w.kill()
        self.live.clear()

    def _staff(self) -> None:
        """Start workers until ``n_workers`` are taking jobs (while jobs are queued)."""
        active = sum(not w.retiring for w in self.live)
        for _ in range(min(self.n_workers - active, len(self.queue))):
            self.live.append(Worker(self.ctx, self.target))

    def _deadline(self, w: Worker) -> float:
        if not w.ready:
            return w.started + self.startup_s
        return w.mark + self.timeout_s if w.pending else float("inf")

    def _next_deadline(self) -> float:
        return min((self._deadline(w) for w in self.live), default=time.monotonic() + 1.0)

    def _feed(self, w: Worker) -> None:
        """Top the worker up to two chunks of work within the pipe budget."""
        if w.retiring or not self.queue or len(w.pending) > CHUNK:
            return
        chunk, nbytes = [], 0
        limit = min(CHUNK, self.recycle_after - w.sent)
        while self.queue and len(chunk) < limit:
            i = self.queue[0]
            if i not in self.made:
                try:
                    self.made[i] = self.get(i)
                except Skip as skip:
                    self.queue.popleft()
                    self._finish(i, skip.result)
                    continue
            payload, size = self.made[i]
            if (w.pending or chunk) and w.pending_bytes + nbytes + size > PIPE_BUDGET:
                break
            del self.made[i]
            self.queue.popleft()
            chunk.append((i, size, payload))
            nbytes += size
        if not chunk:
            return
        if not w.pending:
            w.mark = time.monotonic()
        w.conn.send([(i, payload) for i, _, payload in chunk])
        w.pending.extend(chunk)
        w.pending_bytes += nbytes
        w.sent += len(chunk)
        w.retiring = w.sent >= self.recycle_after  # its replacement starts now, overlapping

    def _drain(self, w: Worker) -> None:
        """Read every message the worker has sent."""
        try:
            while w.conn.poll():
                msg = w.conn.recv()
                if not w.ready:
                    w.hello(msg)
                    self.info = w.info
                    continue
                index, result = msg
                expected, size, _ = w.pending.popleft()
                assert index == expected, (index, expected)
                w.pending_bytes -= size
                w.mark = time.monotonic()
                self._finish(index, result)
        except (EOFError, OSError):
            if not w.ready:
                raise SimulationError(f"simulator worker died on start ({w.exit_text()})") from None
            self._lose(w, f"worker died ({w.exit_text()})")

    def _finish(self, index: int, result: Any) -> None:
        self.results[index] = result
        self.done += 1
        self.progress(1)

    def _lose(self, w: Worker, why: str) -> None:
        """Kill ``w``: fail its job in flight and requeue the others (``_staff`` replaces it)."""
        self.live.remove(w)
        w.kill()
        if w.pending:
            index, _, _ = w.pending.popleft()
            for i, size, payload in w.pending:
                self.made[i] = (payload, size)
            self.queue.extendleft(reversed([i for i, _, _ in w.pending]))
            self._finish(index, self.fail(index, why))
