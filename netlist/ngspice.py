"""Run ngspice AC sweeps in isolated worker processes and measure them (docs/simulation.md).

circuit → netlist → **ngspice** → measure → report. The only module that touches PySpice or
libngspice, and only in worker processes: the parent never imports PySpice or loads the
library. Workers fork from a ``forkserver`` (numpy and PySpice imported, no libngspice), load
their own libngspice, run jobs sent in small chunks over a pipe, measure each sweep and send
back one small result per job. The parent (``workers.Pool``) kills and replaces a worker that
makes no progress for ``timeout_s`` (its job fails, the rest are requeued), replaces one that
dies, and recycles each after ``RECYCLE_AFTER`` jobs: a bad circuit fails alone. Inside
``cluster.use_cluster`` the same payloads go in chunks to Dask workers instead, each running
them in such a pool of its own (``netlist/cluster.py``, docs/scaling.md).

ngspice 39 / PySpice 1.5 behaviour relied on (observed with Debian's libngspice0):

- PySpice logs "Unsupported Ngspice version 39" (WARNING) on load and every ngspice stderr
  line (ERROR); unconfigured, these reach stderr via ``logging.lastResort``. Workers raise
  the ``PySpice`` logger above CRITICAL.
- PySpice's ``exec_command``/``load_circuit`` raise ``NgSpiceCommandError`` (a ``NameError``)
  for any stderr line not starting with "Warning:", and ngspice writes routine notes there
  ("Note: Starting dynamic gmin stepping"). The hot loop calls ``ngSpice_Circ``,
  ``ngSpice_Command`` and ``ngGet_Vec_Info`` on the instance's cffi library instead, and
  skips PySpice's Plot objects.
- Those calls return 0 even when the deck does not parse, no circuit is loaded or the
  analysis aborts ("doAnalyses: matrix is singular" leaves an empty AC plot). A job succeeds
  only if no stderr line starts with "Error" and the current plot is an AC plot with
  ``frequency``, in and out vectors of one non-zero length.
- A deck needs ``.end``; sent as an array of lines it needs no newline after it (PySpice
  #264 is about text input). ``ngSpice_Circ`` runs a ``.control`` block placed before
  ``.end`` and ignores what follows ``.end``; the ngspice CLI reads on past ``.end``. The
  block that ``to-spice`` writes after ``.end`` for the CLI thus never runs here, and so
  that this holds whatever a version does, a worker sends the lines up to the first
  ``.end`` only. Vectors are named by lower-case node names; ``frequency`` is complex
  (imaginary part 0). Junk after a number is ignored ("1kx!" is 1k).
- R = 0: ngspice silently uses 1 mΩ for an exactly-zero resistance; a resistor with no value
  gets 1 mΩ with "Warning: r1: resistance to low, set to 1 mOhm"; 1e-13 Ω is kept as is.
  ``spice.write_spice`` therefore writes R = 0 as a 0 V source (an exact short).
- ``remcirc`` + ``destroy all`` after every run still leave ≈ 1 kB per run behind, and every
  command stays in ngspice's history: workers clear it with ``ngSpice_Command(NULL)`` every
  100 jobs (PySpice does so every 10,000 commands) and are recycled.
- ``quit`` in a ``.control`` block crashes the shared library (SIGSEGV): a worker dies.
- One circuit set per process (global state, ``ngspice_id`` 0): parallelism means processes.
  ngspice times every AC point with ``clock()`` (a ≈ 1 µs system call on this VM), about
  30 % of the ≈ 2.6 µs per sweep point; nothing in a deck avoids it (``.options klu`` does
  nothing in 39, ``save`` of only the needed vectors gains 1–2 %).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from ..circuit import Circuit, load_circuit
from ..errors import CktGenError, NetlistError, SimulationError
from ..fileio import read_text
from ..spec import Spec
from . import cluster as _cluster
from .deck import DECK_SUFFIXES, prepare_deck
from .measure import Measurement, loop_margin, measure_opamp
from .mna import Pencil, pencil_from_deck, pencil_from_testbench
from .spice import TAG, deck_text, parse_spice
from .stability import Stability, analyse_many
from .testbench import build_testbench
from .workers import Pool, Skip, Worker, forkserver_context

RECYCLE_AFTER = 2000  # jobs per worker before it is replaced (bounds ngspice's leaks)
STARTUP_TIMEOUT_S = 60.0  # a worker must load libngspice within this
_CLEAR_HISTORY_EVERY = 100  # jobs between ngSpice_Command(NULL) calls
_PYSPICE = "PySpice.Spice.NgSpice.Shared"  # preloaded by the forkserver; loads no library
_version: str | None = None


@dataclass(frozen=True)
class SimJob:
    """One AC simulation: an ngspice deck and the nets whose voltage ratio is H.

    Attributes:
        deck: ngspice deck text with an AC analysis and ``.end`` (first line: the title).
        in_node, out_node: H = V(out_node)/V(in_node).
        label: names the job in results and messages (``Measurement.file``).
        keep_sweep: also return the frequencies and H.
        pencil: the deck's MNA pencil when already known (OCB circuits); else the deck is
            parsed for the stability analysis.
    """

    deck: str
    in_node: str = "in"
    out_node: str = "out"
    label: str | None = None
    keep_sweep: bool = False
    pencil: Pencil | None = field(default=None, repr=False, compare=False)


@dataclass
class SimResult:
    """Outcome of one job.

    Attributes:
        measurement: gain/UGF/PM/FoM, or invalid with a reason (also when ngspice failed).
        freq_hz: sweep frequencies, only with ``keep_sweep`` and a successful run.
        h: complex V(out)/V(in) at ``freq_hz``, likewise.
        error: the failure message when ngspice did not produce a sweep, else None.
        sim_s: seconds spent in libngspice (load, run, fetch vectors) in the worker.

    Not frozen: the runner adds the stability verdicts and the spec check to
    ``measurement`` in place before handing results out.

    Shapes:
        freq_hz, h: ``[F]`` (1,101 points for the OCB sweep).
    """

    measurement: Measurement
    freq_hz: np.ndarray | None = None
    h: np.ndarray | None = None
    error: str | None = None
    sim_s: float | None = None

    def check(self) -> SimResult:
        """Return self, or raise ``SimulationError`` when ngspice failed on this job."""
        if self.error is not None:
            raise SimulationError(self.error)
        return self


def simulate(
    jobs: Sequence[SimJob],
    workers: int | None = None,
    timeout_s: float = 10.0,
    progress: bool = False,
) -> list[SimResult]:
    """Simulate and measure every job in worker processes; results in input order.

    Args:
        jobs: decks to run.
        workers: worker processes (default ``min(2, os.cpu_count())``; always ≥ 1, since
            ngspice never runs in the calling process).
        timeout_s: wall-clock limit per job; a job past it is killed with its worker.
        progress: show a tqdm bar with ETA on stderr.

    Returns:
        One SimResult per job. A job that fails, crashes or hangs gets an invalid measurement
        whose reason (and ``error``) says why; the others are unaffected.

    Raises:
        SimulationError: when a worker cannot start at all (e.g. libngspice is missing).

    Workers start from a multiprocessing forkserver but never re-import the caller's
    ``__main__`` (``workers._main_hidden``), so scripts need no entry-point guard. Inside a
    ``cluster.use_cluster`` block the jobs run on that Dask cluster instead (``workers`` is
    then unused), with the same results.
    """
    jobs = list(jobs)
    return _run(len(jobs), jobs.__getitem__, workers, timeout_s, progress)


def _run(
    n: int, make: Callable[[int], SimJob], workers: int | None, timeout_s: float, progress: bool
) -> list[SimResult]:
    """``simulate`` on jobs made on demand by ``make(index)`` (which may raise ``Skip``)."""
    global _version
    if workers is None:
        workers = min(2, os.cpu_count() or 1)
    if workers < 1:
        raise ValueError(f"workers must be ≥ 1 (ngspice runs only in workers), found {workers}")
    if n == 0:
        return []
    from tqdm import tqdm

    labels: dict[int, str | None] = {}
    prepared = _Prepared(n, make)
    stability: list[Stability | None] = [None] * n

    def get(index: int) -> tuple[tuple, int]:
        j, st = prepared.get(index)
        labels[index], stability[index] = j.label, st
        payload = (j.deck, j.in_node, j.out_node, j.label, j.keep_sweep, st.sign)
        return payload, len(j.deck) + 100

    def fail(index: int, why: str) -> SimResult:
        return failed_result(why, labels.get(index), _version)

    cluster = _cluster.active()  # docs/scaling.md: the same jobs, run by Dask workers
    with tqdm(
        total=n, desc="ngspice", unit="ckt", file=sys.stderr, disable=not progress, smoothing=0.05
    ) as bar:
        if cluster is not None:
            pool: Pool | _cluster.ClusterRunner = _cluster.ClusterRunner(cluster, timeout_s)
        else:
            pool = local_pool(min(workers, n), timeout_s)
        try:
            results = pool.run(n, get, fail, bar.update)
        finally:
            pool.close()
    _version = _version or pool.info
    for r, st in zip(results, stability):
        if st is not None:
            r.measurement = r.measurement.with_stability(st)
    return results


def local_pool(n_workers: int, timeout_s: float) -> Pool:
    """A pool of ``n_workers`` ngspice worker processes (started when the first job comes)."""
    ctx = forkserver_context(__name__, _PYSPICE)
    startup_s = max(STARTUP_TIMEOUT_S, timeout_s)
    return Pool(ctx, _worker_main, n_workers, timeout_s, RECYCLE_AFTER, startup_s)


def failed_result(why: str, label: str | None, version: str | None) -> SimResult:
    """The result of a job that timed out or lost its worker: "ngspice <why> on <label>"."""
    msg = f"ngspice {why}" + (f" on {label}" if label else "")
    return SimResult(Measurement.invalid(msg, version or "ngspice", file=label), error=msg)


class _Prepared:
    """Jobs made ahead in blocks, each block's stability analysed in one batch (parent side).

    ``get(index)`` is called once per job, in index order, just before the job is sent; it
    returns the job and its ``Stability`` (or raises the ``Skip`` that ``make`` raised).
    """

    BLOCK = 256

    def __init__(self, n: int, make: Callable[[int], SimJob]) -> None:
        self.n, self.make = n, make
        self.ready: dict[int, tuple[SimJob, Stability] | Skip] = {}

    def get(self, index: int) -> tuple[SimJob, Stability]:
        if index not in self.ready:
            self._fill(index)
        item = self.ready.pop(index)
        if isinstance(item, Skip):
            raise item
        return item

    def _fill(self, start: int) -> None:
        jobs: dict[int, SimJob] = {}
        for i in range(start, min(start + self.BLOCK, self.n)):
            if i in self.ready:
                continue
            try:
                jobs[i] = self.make(i)
            except Skip as skip:
                self.ready[i] = skip
        pencils: dict[int, Pencil] = {}
        for i, j in jobs.items():
            try:
                pencils[i] = pencil_of(j)
            except NetlistError as exc:
                self.ready[i] = (j, Stability.unknown(str(exc)))
        for i, st in zip(pencils, analyse_many(list(pencils.values()))):
            self.ready[i] = (jobs[i], st)


def ngspice_version() -> str:
    """The libngspice version, e.g. ``"ngspice-39"`` (asked of a worker once, then cached;
    inside ``cluster.use_cluster``, of a Dask worker)."""
    global _version
    cluster = _cluster.active()
    if _version is None and cluster is not None:
        _version = cluster.client.submit(_cluster.worker_version, pure=False).result()
    if _version is None:
        w = Worker(forkserver_context(__name__, _PYSPICE), _worker_main)
        try:
            _version = w.wait_ready(STARTUP_TIMEOUT_S)
        finally:
            w.stop()
    return _version


def verify(
    items: Iterable[Any],
    spec: Spec | None = None,
    workers: int | None = None,
    timeout_s: float = 10.0,
    keep_sweep: bool = False,
    progress: bool = False,
    out_node: str = "out",
) -> list[SimResult]:
    """Simulate circuits (or circuit JSON paths) on the OCB testbench and check a spec.

    Args:
        items: ``Circuit`` objects, circuit ``.json`` paths or ready ``SimJob`` s.
        spec: target; sets each measurement's ``meets_spec`` (None without a spec).
        workers, timeout_s, progress: as for ``simulate``.
        keep_sweep: return each sweep (``freq_hz``, ``h``).
        out_node: output net of plain user decks (handed to ``job_for``).

    Returns:
        One SimResult per item, in order. Items that cannot be turned into a deck get an
        invalid result with the reason (and ``error``) instead of failing the batch.
    """
    items = list(items)

    def make(index: int) -> SimJob:
        try:
            return job_for(items[index], index, keep_sweep, out_node)
        except CktGenError as exc:
            msg = f"cannot build a deck: {exc}"
            label = _label(items[index], index)
            raise Skip(
                SimResult(Measurement.invalid(msg, _version or "ngspice", file=label), error=msg)
            ) from None

    results = _run(len(items), make, workers, timeout_s, progress)
    for r in results:
        r.measurement = r.measurement.with_spec(spec)
    return results


def job_for(item: Any, index: int = 0, keep_sweep: bool = False, out_node: str = "out") -> SimJob:
    """Turn one ``verify`` item into a job.

    Items: a SimJob; a Circuit; a path to circuit JSON (``.json``), to a deck written by
    ``to-spice`` or an OCB-style subcircuit netlist (``.scs``, or any deck with subcircuit
    instances only), or to a plain SPICE deck (``.cir``/``.sp``/…, measured at ``out_node``).

    Raises:
        CktGenError: when the item cannot be read or written as a deck.
        TypeError: for an unsupported item type.
    """
    if isinstance(item, SimJob):
        return item if not keep_sweep else replace(item, keep_sweep=True)
    if isinstance(item, Circuit):
        return _circuit_job(item, _label(item, index), keep_sweep)
    if not isinstance(item, (str, Path)):
        raise TypeError(f"verify item {index}: cannot simulate a {type(item).__name__}")
    path, label = Path(item), str(item)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return _circuit_job(load_circuit(path), label, keep_sweep)
    text = read_text(path, NetlistError)
    if suffix == ".scs" or TAG + " format" in text:
        return _circuit_job(parse_spice(text, label), label, keep_sweep)
    if suffix in DECK_SUFFIXES:
        deck = prepare_deck(text, out_node, label)
        return SimJob(deck.text, deck.in_node, deck.out_node, label=label, keep_sweep=keep_sweep)
    raise NetlistError(
        f"{path}: unknown file type {suffix or '(none)'}; expected .json, .scs or a SPICE deck "
        f"({', '.join(DECK_SUFFIXES)})"
    )


def pencil_of(job: SimJob) -> Pencil:
    """The job's small-signal pencil: the one it carries, or its deck's.

    Raises:
        NetlistError: "no linear model: …" when the deck has none (parameters, behavioural
            sources); without line numbers, which would point into the prepared deck.
    """
    if job.pencil is not None:
        return job.pencil
    try:
        return pencil_from_deck(job.deck, job.in_node, job.out_node)
    except NetlistError as exc:
        why = re.sub(r"^line \d+: ", "", str(exc))
        raise NetlistError(f"no linear model: {why}") from None


def _circuit_job(circuit: Circuit, label: str | None, keep_sweep: bool) -> SimJob:
    """The OCB testbench deck of a circuit, with its pencil (no parse needed)."""
    tb = build_testbench(circuit)
    return SimJob(
        deck_text(tb), label=label, keep_sweep=keep_sweep, pencil=pencil_from_testbench(tb)
    )


def _label(item: Any, index: int) -> str:
    """A circuit's name for reports: ``meta["name"]``/``meta["file"]``, a path, or its index."""
    if isinstance(item, Circuit) and item.meta:
        for key in ("name", "file"):
            if isinstance(item.meta.get(key), str):
                return item.meta[key]
    if isinstance(item, (str, Path)):
        return str(item)
    return f"circuit {index}"


# ------------------------------------------------------------------ worker side (PySpice)
class _Engine:
    """libngspice in this worker process, driven through PySpice's ``NgSpiceShared``."""

    def __init__(self) -> None:
        logging.getLogger("PySpice").setLevel(logging.CRITICAL + 1)
        from PySpice.Spice.NgSpice.Shared import NgSpiceShared, ffi  # = _PYSPICE

        output = self.output = []

        class _Shared(NgSpiceShared):
            def send_char(self, message: str, ngspice_id: int) -> int:
                output.append(message)
                return 0

            def send_stat(self, message: str, ngspice_id: int) -> int:
                return 0

        self.ng = _Shared(ngspice_id=0, send_data=False)
        self.lib, self.ffi = self.ng._ngspice_shared, ffi
        self.version = f"ngspice-{self.ng.ngspice_version}"
        self.runs = 0

    def run(
        self,
        deck: str,
        in_node: str,
        out_node: str,
        label: str | None,
        keep_sweep: bool,
        sign: int = 1,
    ) -> SimResult:
        """Load, run, fetch, free and measure one deck; a failed run gives an invalid result."""
        ffi, lib = self.ffi, self.lib
        self.output.clear()
        self.ng.clear_output()  # PySpice keeps its own copy of every line too
        lines = deck.splitlines() or [""]
        # full-line comments only cost parse time; the first line is the title
        text = [lines[0]] + [x for x in lines[1:] if not x.startswith("*")]
        end = _end_index(text)
        if end is not None:  # what follows .end (a to-spice .control block) never runs here
            del text[end + 1 :]
        buffers = [ffi.new("char[]", x.encode()) for x in text]  # alive until ngSpice_Circ
        start = time.perf_counter()
        try:
            lib.ngSpice_Circ(ffi.new("char *[]", buffers + [ffi.NULL]))
            lib.ngSpice_Command(b"run")
            said = len(self.output)  # what ngspice printed, before our vector look-ups
            plot = ffi.string(lib.ngSpice_CurPlot()).decode()
            vectors = [self._vector(name) for name in ("frequency", in_node, out_node)]
        finally:
            sim_s = time.perf_counter() - start
            lib.ngSpice_Command(b"remcirc")
            lib.ngSpice_Command(b"destroy all")
            self.runs += 1
            if self.runs % _CLEAR_HISTORY_EVERY == 0:
                lib.ngSpice_Command(ffi.NULL)
        problem = self._failure(self.output[:said], plot, vectors, (in_node, out_node))
        if problem is not None:
            msg = f"ngspice failed{f' on {label}' if label else ''}: {problem}"
            return SimResult(
                Measurement.invalid(msg, self.version, file=label), error=msg, sim_s=sim_s
            )
        freq, vin, vout = vectors
        freq = freq.real
        with np.errstate(divide="ignore", invalid="ignore"):
            h = vout / vin
        m = measure_opamp(freq, h, self.version).with_file(label)
        m = m._with(pm_loop_deg=loop_margin(h, sign))  # sign = sgn H(0), from the parent
        if keep_sweep:
            return SimResult(m, freq, h, sim_s=sim_s)
        return SimResult(m, sim_s=sim_s)

    def _vector(self, name: str) -> np.ndarray | None:
        info = self.lib.ngGet_Vec_Info(name.lower().encode())
        if info == self.ffi.NULL or info.v_length <= 0:
            return None
        n = info.v_length
        if info.v_compdata != self.ffi.NULL:
            raw = self.ffi.buffer(info.v_compdata, 16 * n)
            return np.frombuffer(raw, dtype=np.complex128).copy()
        return np.frombuffer(self.ffi.buffer(info.v_realdata, 8 * n), dtype=np.float64).copy()

    @staticmethod
    def _failure(output: list[str], plot: str, vectors: list, nodes: tuple[str, str]) -> str | None:
        """Why a run gave no usable sweep (None when it did)."""
        stderr = [m[7:].strip() for m in output if m.startswith("stderr ")]
        first = next((k for k, x in enumerate(stderr) if x.lower().startswith("error")), None)
        if first is not None:  # "Error on line N …:" is followed by the line and the cause
            return "; ".join(x.rstrip(":") for x in stderr[first : first + 4])[:400]
        names = ("frequency", *(f"V({n})" for n in nodes))
        missing = [n for n, v in zip(names, vectors) if v is None]
        if not plot.startswith("ac") or missing:
            what = f"no {', '.join(missing)} in" if missing else "no AC analysis; current"
            last = "; ".join(stderr[-2:])
            return (f"{what} plot {plot!r}" + (f" ({last})" if last else ""))[:400]
        if len({v.size for v in vectors}) != 1:
            return "sweep vectors differ in length"
        return None


def _end_index(lines: list[str]) -> int | None:
    """Index of the first ``.end`` card after the title, or None (ngspice's test: ``.end``
    followed by the end of the line or white space)."""
    for k in range(1, len(lines)):
        card = lines[k].lstrip()
        if card[:4].lower() == ".end" and (len(card) == 4 or card[4].isspace()):
            return k
    return None


def _private_home() -> str:
    """Move this worker into a fresh, empty, private folder and make it HOME too.

    libngspice runs ``.spiceinit`` from the working directory (else from HOME) when it
    starts, ``shell`` commands included: a file dropped in the user's folder must never
    run. The caller removes the folder once libngspice has started (it reads it only then).
    """
    home = tempfile.mkdtemp(prefix="cktgen-ngspice-")
    os.chdir(home)
    os.environ["HOME"] = home
    return home


def _die_with_parent() -> None:
    """End this worker as soon as the main process is gone (SIGTERM from ``timeout``,
    SIGHUP, a crash), even in the middle of an ngspice run.

    The worker's OS parent is the forkserver, which outlives the main process while its
    children run, so the kernel's parent-death signal would not fire. A thread waits on
    the main process's sentinel instead; libngspice runs without the GIL, so the thread
    wakes at once.
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="cktgen-parent-watch", daemon=True).start()


def _worker_main(conn: Connection) -> None:
    """Worker process: load libngspice, then run chunks of jobs (protocol in ``workers``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _die_with_parent()
    try:
        home = _private_home()
        try:
            engine = _Engine()
        finally:
            shutil.rmtree(home, ignore_errors=True)
    except Exception as exc:  # noqa: BLE001 - libngspice missing or broken: batch fails
        conn.send(("failed", f"cannot load libngspice through PySpice: {exc}"))
        return
    conn.send(("ready", engine.version))
    while True:
        try:
            chunk = conn.recv()
        except EOFError:
            return
        if chunk is None:
            return
        for index, payload in chunk:
            try:
                result = engine.run(*payload)
            except Exception as exc:  # noqa: BLE001 - one job's bug must not end the batch
                msg = f"simulation failed: {type(exc).__name__}: {exc}"
                result = SimResult(
                    Measurement.invalid(msg, engine.version, file=payload[3]), error=msg
                )
            conn.send((index, result))
