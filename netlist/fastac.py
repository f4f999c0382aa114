"""The exact small-signal engine: H(jω) of many linear circuits at once, no simulator.

circuit → testbench → mna → **fastac** → measure → report. These circuits are small linear
networks, so their AC response is exact from the MNA pencil (mna.py). With C invertible
(every OCB circuit without a 0 F or 0 Ω part) H has the pole–residue form

    H(s) = H(∞) + Σᵢ rᵢ / (s − pᵢ),   A = −C⁻¹G = V·Λ·V⁻¹,

from one batched eigen-decomposition per matrix size. ``dgeev`` on A finds a slow pole only
to ≈ ε·max|λ| (1e-8 relative when the poles span ten decades), so each pole is refined by
one step of inverse iteration on the pencil itself, (G + λC)·y = C·v, which LU solves as
accurately as a direct solve at s = λ; the residues come from the refined right and left
vectors, rᵢ = yᵢ[out]·(zᵢᵀb(pᵢ))/(zᵢᵀCyᵢ) with b(s) = −(g_in + s·c_in). Every circuit is
then checked against direct solves at 12 fixed frequencies and at the sweep point nearest
each pole; a circuit off by more than 1e-9 there (a double pole: two identical gm stages),
or with a singular C, is solved directly at every frequency instead: Gaussian elimination
with V(out) last, vectorised over frequencies, itself checked against LAPACK at the fixed
frequencies. The result is measured by ``measure.py`` exactly like an ngspice sweep, with
the same stability verdicts (``stability.verdicts``, sharing A's eigenvalues).

``verify`` takes circuits straight to stacked pencils (``testbench.elements_many``,
``mna.pencils_many``: the matrices ``pencil_from_testbench`` builds, bit for bit, without a
deck), measures them by size in batches, and splits the work over forked processes. On
20,000 random circuits H agrees with ngspice to 8e-8 and every verdict is the same
(docs/simulation.md). ngspice stays the default of ``verify`` and the judge of every
reported pass; this engine is for screening and search.
"""

from __future__ import annotations

import ctypes
import gc
import multiprocessing
import operator
import os
import queue
import sys
import threading
from collections.abc import Iterable, Sequence
from dataclasses import replace
from itertools import chain
from typing import Any

import numpy as np

from ..circuit import Circuit
from ..errors import CktGenError
from ..spec import Spec
from .measure import Measurement, measure_many
from .mna import Pencil, PencilBatch, pencils_many
from .stability import _blas_controller, _regular, analyse, verdicts
from .testbench import OUT_CODE, elements_many

NAME = "fast"
OCB_FREQ_HZ = np.logspace(0, 11, 1101)  # .ac dec 100 1 100G, as ngspice lays it out
_CHECK_TOL = 1e-9  # pole–residue vs direct solves at the probes; else solve everywhere
_PROBES = 12  # fixed probe frequencies, a decade apart (and one at each pole)
_BATCH = 256  # circuits per pass through sweep, stability and measurement
_CHUNK = 4096  # circuits per unit of work handed to a process
_ROWS = 32  # sweeps computed at once (their [rows, F] buffers stay in cache)
_W = 2.0 * np.pi * OCB_FREQ_HZ


def sweep(pencils: list[Pencil], freq_hz: np.ndarray = OCB_FREQ_HZ) -> np.ndarray:
    """H(j2πf) = V(out)/V(in) of every pencil at every frequency.

    Shapes:
        freq_hz: ``[F]``; returns ``[N, F]`` complex.
    """
    w = 2.0 * np.pi * np.asarray(freq_hz, dtype=float)
    out = np.empty((len(pencils), w.size), dtype=complex)
    sizes: dict[int, list[int]] = {}
    for i, p in enumerate(pencils):
        sizes.setdefault(p.g.shape[0], []).append(i)
    with _blas_controller().limit(limits=1, user_api="blas"):
        for idx in sizes.values():
            ps = [pencils[i] for i in idx]
            g, c, g_in, c_in = (np.stack([getattr(p, f) for p in ps]) for f in _FIELDS)
            out[idx] = _sweep(g, c, g_in, c_in, np.array([p.out for p in ps]), w, _modes(g, c))
    return out


def _modes(g: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which pencils have an invertible C, and the eigenvalues and eigenvectors of
    A = −C⁻¹G (NaN for the others): what both the sweep and ``stability.verdicts`` use.

    Shapes:
        g, c: ``[K, n, n]``; returns ``[K]``, ``[K, n]``, ``[K, n, n]``.
    """
    k, n = g.shape[:2]
    ok = _regular(c)
    lam = np.full((k, n), np.nan, dtype=complex)
    vec = np.full((k, n, n), np.nan, dtype=complex)
    kk = np.flatnonzero(ok)
    if kk.size:  # −solve(c, g) as stability.verdicts forms A: the same eigenvalues
        lam[kk], vec[kk] = np.linalg.eig(-np.linalg.solve(c[kk], g[kk]))
    return ok, lam, vec


def _sweep(g, c, g_in, c_in, out, w, modes) -> np.ndarray:
    """H of stacked pencils of one size (``Pencil`` fields) at angular frequencies ``w``,
    given their ``_modes``.

    Shapes:
        g, c: ``[K, n, n]``; g_in, c_in: ``[K, n]``; out: ``[K]``; w: ``[F]``; returns
        ``[K, F]``.
    """
    return _sweep_fitted(g, c, g_in, c_in, out, w, _fit(g, c, g_in, c_in, out, w, modes))


def _fit(g, c, g_in, c_in, out, w, modes) -> tuple[np.ndarray, ...]:
    """Each pencil's pole–residue form (module doc), checked against direct solves at the
    probes: which pencils have a trusted one, and its poles, residues and H(∞)."""
    k, n = g.shape[:2]
    ok = modes[0].copy()
    p = np.full((k, n), np.nan, dtype=complex)
    r = p.copy()
    h_inf = np.full(k, np.nan)
    kk = np.flatnonzero(ok)
    if kk.size:
        whole = kk.size == k  # the usual case: no copies
        part = (g, c, g_in, c_in, out) if whole else (g[kk], c[kk], g_in[kk], c_in[kk], out[kk])
        lam, vec = (modes[1], modes[2]) if whole else (modes[1][kk], modes[2][kk])
        p[kk], r[kk], h_inf[kk] = _poles_residues(*part, lam, vec)
        probes = np.concatenate(
            [np.broadcast_to(_grid(w.size), (kk.size, _PROBES)), _nearest(w, np.abs(p[kk]))],
            axis=1,
        )
        at = w[probes]  # the sweep's own values there: the same arithmetic, point by point
        ok[kk] = _close(_pole_residue_sum(p[kk], r[kk], h_inf[kk], at), _eliminate(*part, at))
    return ok, p, r, h_inf


def _sweep_fitted(g, c, g_in, c_in, out, w, fit) -> np.ndarray:
    """``_sweep`` once ``_fit``: the pole–residue sum where trusted, else direct solves."""
    ok, p, r, h_inf = fit
    h = np.empty((len(g), w.size), dtype=complex)
    kk = np.flatnonzero(ok)
    if kk.size:
        _pole_residue_sum(p[kk], r[kk], h_inf[kk], w, h, kk)
    rest = np.flatnonzero(~ok)
    if rest.size:
        h[rest] = _direct(g[rest], c[rest], g_in[rest], c_in[rest], out[rest], w)
    return h


def _poles_residues(g, c, g_in, c_in, out, lam, vec):
    """The refined poles p and residues r, and H(∞), from A's eigenvalues λ and
    eigenvectors (module doc).

    Shapes:
        lam: ``[K, n]``; vec: ``[K, n, n]``; returns p, r: ``[K, n]``; H(∞): ``[K]``.
    """
    rows = np.arange(len(g))
    h_inf = -np.linalg.solve(c, c_in[..., None])[rows, out, 0]
    with np.errstate(all="ignore"):
        left = _inverse(vec)  # its rows: the left eigenvectors, wᵢ·vᵢ = 1
        shift = lam * (1.0 + 2.0**-40)  # off the eigenvalue: G + λC is often exactly singular
        pencil = g[:, None] + shift[..., None, None] * c[:, None]  # [K, m, n, n]
        y = _solve(pencil, np.einsum("kij,kjm->kmi", c, vec))  # right: (G + λC)y = Cv
        z = _solve(np.swapaxes(pencil, -1, -2), left)  # left: (G + λC)ᵀz = w
        p = shift - 1.0 / np.einsum("kmi,kmi->km", left, y)
        b = -(g_in[:, None, :] + p[..., None] * c_in[:, None, :])
        zcy = np.einsum("kmi,kij,kmj->km", z, c, y)
        r = y[rows, :, out] * np.einsum("kmi,kmi->km", z, b) / zcy
    return p, r, h_inf


def _solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.linalg.solve`` for stacks of vectors ``b[..., n]``, NaN (not an exception) where
    a matrix is singular."""
    try:
        return np.linalg.solve(a, b[..., None])[..., 0]
    except np.linalg.LinAlgError:
        bad = np.linalg.slogdet(a)[0] == 0
        x = np.linalg.solve(np.where(bad[..., None, None], np.eye(a.shape[-1]), a), b[..., None])
        x[bad] = np.nan
        return x[..., 0]


def _inverse(a: np.ndarray) -> np.ndarray:
    """``np.linalg.inv`` for stacks, NaN where a matrix is singular."""
    try:
        return np.linalg.inv(a)
    except np.linalg.LinAlgError:
        bad = np.linalg.slogdet(a)[0] == 0
        x = np.linalg.inv(np.where(bad[..., None, None], np.eye(a.shape[-1]), a))
        x[bad] = np.nan
        return x


def _pole_residue_sum(p, r, h_inf, w, h=None, rows=None) -> np.ndarray:
    """H(jω) = H(∞) + Σᵢ rᵢ/(jω − pᵢ), in real arithmetic, ``_ROWS`` sweeps at a time, into
    ``h[rows]`` (a new array without ``h``). ``w``: the frequencies of all rows ``[F]``, or
    of each ``[K, F]``.

    A real pole with a real residue (three in four) costs 5 passes over the sweep, a complex
    one 12: the rows are ordered so each pole slot's real poles come first.
    """
    k, m = p.shape
    f = w.shape[-1]
    if h is None:
        h, rows = np.empty((k, f), dtype=complex), np.arange(k)
    simple = (p.imag == 0) & (r.imag == 0) & (p.real != 0)
    slot = np.argsort(~simple, axis=1, kind="stable")  # per row: its simple poles first
    p, r = np.take_along_axis(p, slot, 1), np.take_along_axis(r, slot, 1)
    count = simple.sum(axis=1)
    by = np.argsort(-count, kind="stable")  # rows with the most simple poles first
    p, r, count, h_inf, rows = p[by], r[by], count[by], h_inf[by], rows[by]
    each = w.ndim == 2
    if each:
        w = w[by]
    w2 = w * w
    re, im, si, q, y, t = (np.empty((_ROWS, f)) for _ in range(6))
    with np.errstate(all="ignore"):
        for a in range(0, k, _ROWS):
            n = min(_ROWS, k - a)
            wb, w2b = (w[a : a + n], w2[a : a + n]) if each else (w, w2)
            re[:n], im[:n], si[:n] = h_inf[a : a + n, None].real, h_inf[a : a + n, None].imag, 0
            for i in range(m):
                pr, pi = p[a : a + n, i, None].real, p[a : a + n, i, None].imag
                ar, ai = r[a : a + n, i, None].real, r[a : a + n, i, None].imag
                s = int((count[a : a + n] > i).sum())  # rows [0, s): a simple pole here
                if s:  # r/(jω − p) = (−r·p − jω·r)/(ω² + p²): ω·Σ −r/(ω² + p²) at the end
                    np.add(w2b[:s] if each else w2b, pr[:s] * pr[:s], out=q[:s])
                    re[:s] += np.divide(-ar[:s] * pr[:s], q[:s], out=t[:s])
                    si[:s] += np.multiply(t[:s], 1.0 / pr[:s], out=t[:s])
                if s < n:  # r/(jω − p) = r·(−Re p − j(ω − Im p))/|jω − p|²
                    c = slice(s, n)
                    np.subtract(wb[c] if each else wb, pi[c], out=y[c])
                    np.multiply(y[c], y[c], out=q[c])
                    q[c] += pr[c] * pr[c]
                    np.divide(1.0, q[c], out=q[c])
                    np.multiply(y[c], ai[c], out=t[c])
                    t[c] -= ar[c] * pr[c]
                    re[c] += np.multiply(t[c], q[c], out=t[c])
                    np.multiply(y[c], -ar[c], out=t[c])
                    t[c] -= ai[c] * pr[c]
                    im[c] += np.multiply(t[c], q[c], out=t[c])
            im[:n] += np.multiply(si[:n], wb, out=t[:n])
            at = rows[a : a + n]
            h.real[at], h.imag[at] = re[:n], im[:n]
    return h


def _grid(f: int) -> np.ndarray:
    return np.linspace(0, f - 1, _PROBES).astype(int)


def _nearest(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Index of the sweep point at or just above each |pole| (rad/s), clipped to the sweep."""
    with np.errstate(invalid="ignore"):
        at = np.searchsorted(w, np.nan_to_num(x, nan=0.0, posinf=w[-1]))
    return np.minimum(at, w.size - 1)


def _close(h: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Rows where ``h`` is within ``_CHECK_TOL`` of ``ref`` everywhere (relative)."""
    with np.errstate(all="ignore"):
        err = np.abs(h - ref) / np.abs(ref)
    return np.nan_to_num(err, nan=np.inf).max(axis=1) <= _CHECK_TOL


def _eliminate(g, c, g_in, c_in, out, w) -> np.ndarray:
    """H by Gaussian elimination of (G + jωC)·x = −(g_in + jω·c_in) with V(out) last.

    No pivoting: the sweep is a forward elimination per frequency, vectorised over all of
    them; the callers check the result against LAPACK (which pivots) where it matters.

    Shapes:
        w: ``[K, P]`` angular frequencies per pencil; returns ``[K, P]``.
    """
    k, n = g.shape[:2]
    order = np.argsort(np.arange(n)[None, :] == out[:, None], axis=1, kind="stable")
    rows = np.arange(k)[:, None, None]
    gp = g[rows, order[:, :, None], order[:, None, :]]
    cp = c[rows, order[:, :, None], order[:, None, :]]
    m = np.empty((n, n + 1) + w.shape, dtype=complex)  # [G + jωC | −(g_in + jω·c_in)]
    m.real[:, :n] = np.moveaxis(gp, 0, -1)[..., None]
    np.multiply(np.moveaxis(cp, 0, -1)[..., None], w, out=m.imag[:, :n])
    m.real[:, n] = -np.take_along_axis(g_in, order, 1).T[..., None]
    np.multiply(-np.take_along_axis(c_in, order, 1).T[..., None], w, out=m.imag[:, n])
    f = np.empty(w.shape, dtype=complex)
    with np.errstate(all="ignore"):
        for p in range(n - 1):
            below = m[p + 1 :, p + 1 :]
            for i in range(n - p - 1):
                np.divide(m[p + 1 + i, p], m[p, p], out=f)
                below[i] -= f * m[p, p + 1 :]
        return m[n - 1, n] / m[n - 1, n - 1]


def _direct(g, c, g_in, c_in, out, w) -> np.ndarray:
    """H at every frequency by ``_eliminate``, checked against LAPACK at the fixed probes;
    LAPACK everywhere for a circuit that disagrees there."""
    k = len(g)
    h = np.empty((k, w.size), dtype=complex)
    for a in range(0, k, _ROWS // 2):
        part = tuple(x[a : a + _ROWS // 2] for x in (g, c, g_in, c_in, out))
        h[a : a + _ROWS // 2] = _eliminate(*part, np.broadcast_to(w, (len(part[0]), w.size)))
    probes = _grid(w.size)
    bad = np.flatnonzero(~_close(h[:, probes], _lapack(g, c, g_in, c_in, out, w[probes])))
    for i in bad:
        h[i] = _lapack(
            g[i : i + 1], c[i : i + 1], g_in[i : i + 1], c_in[i : i + 1], out[i : i + 1], w
        )
    return h


def _lapack(g, c, g_in, c_in, out, w) -> np.ndarray:
    """``Pencil.transfer`` of stacked pencils at angular frequencies ``w`` (``[P]``); NaN
    where G + jωC is singular."""
    s = 1j * w
    a = g[:, None] + s[None, :, None, None] * c[:, None]
    x = _solve(a, -(g_in[:, None] + s[None, :, None] * c_in[:, None]))
    return np.take_along_axis(x, out[:, None, None], axis=2)[..., 0]


# ------------------------------------------------------------------ verify
_NODE = operator.attrgetter("type", "pos", "r", "c", "gm")
_FIELDS = ("g", "c", "g_in", "c_in")
_TRI = {-1: None, 0: False, 1: True}


def verify(
    items: Iterable[Any],
    spec: Spec | None = None,
    workers: int | None = None,
    timeout_s: float = 10.0,
    keep_sweep: bool = False,
    progress: bool = False,
    out_node: str = "out",
) -> list:
    """``ngspice.verify`` with the exact engine: same items, results and measurement rules.

    Circuits go straight to stacked pencils; other items (decks, paths, jobs) and circuits
    the array layout leaves alone go through ``job_for``. ``workers`` processes share the
    work (None: one per CPU; forked, where the platform can); ``timeout_s`` and ``progress``
    are accepted for the common signature. A deck that gives no linear model gets an
    invalid result saying so.
    """
    from .ngspice import SimResult

    items = list(items)
    results: list[Any] = [None] * len(items)

    def done(part: dict) -> None:
        for i, msg, label in part["errors"]:
            m = Measurement.invalid(msg, NAME, file=label).with_spec(spec)
            results[i] = SimResult(m, error=msg)
        h = part["h"]
        for j, (i, m) in enumerate(zip(part["index"], _measurements(part, spec))):
            if keep_sweep:
                results[i] = SimResult(m, OCB_FREQ_HZ, h[j])
            else:
                results[i] = SimResult(m)

    collecting = gc.isenabled()
    gc.disable()  # no cycles here; a full collection walks every circuit, repeatedly
    try:
        _run(items, _processes(workers, len(items)), keep_sweep, out_node, done)
    finally:
        if collecting:
            gc.enable()
    return results


def _measurements(part: dict, spec: Spec | None) -> list[Measurement]:
    """The measurements of a computed part (``_compute``), as the per-circuit path makes them:
    ``measure_opamp``, ``loop_margin`` with the DC gain's sign, the verdicts, the spec."""
    reasons = part["reasons"]
    poles, cl_poles = list(part["poles"].ravel()), list(part["cl_poles"].ravel())
    out = []
    for j, (label, fields, pm_loop, stable, cl_stable, sign, n_p, n_cl, settle) in enumerate(
        zip(
            part["labels"],
            part["fields"],
            part["pm"],
            part["stable"].tolist(),
            part["cl_stable"].tolist(),
            part["sign"].tolist(),
            part["n_poles"].tolist(),
            part["n_cl"].tolist(),
            part["settling"].tolist(),
        )
    ):
        reason = reasons.get(j) if reasons else None
        st = _TRI[stable]
        m = Measurement.of(
            (
                label,
                *fields,
                None,
                NAME,
                st,
                _TRI[cl_stable],
                pm_loop if reason is None else None,
                None if st is None else sign < 0,
                tuple(poles[4 * j : 4 * j + n_p]),
                tuple(cl_poles[4 * j : 4 * j + n_cl]),
                None if settle != settle else settle,
                reason,
                (),
            )
        )
        out.append(m if spec is None else m.with_spec(spec))
    return out


def _processes(workers: int | None, n: int) -> int:
    """How many processes share ``n`` items (forked ones), one ``_CHUNK`` each at least."""
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        workers = workers or os.cpu_count() or 1
    if not sys.platform.startswith("linux"):
        return 1  # fork is the safe way only there (macOS libraries, Windows: none)
    if multiprocessing.current_process().daemon:
        return 1  # daemonic processes may not have children
    return max(1, min(workers, -(-n // _CHUNK)))


def _run(items: list, procs: int, keep_sweep: bool, out_node: str, done) -> None:
    """Compute every ``_CHUNK`` of items in this process and ``procs − 1`` forked ones, each
    taking the next chunk when free; ``done(part)`` receives each part, in this process, as
    soon as it is here (so this process builds results while the others compute)."""
    chunks = _chunks(len(items), procs)
    if procs <= 1:
        with _blas_controller().limit(limits=1, user_api="blas"):
            for lo, hi in chunks:
                done(_compute(items, lo, hi, keep_sweep, out_node))
        return
    ctx = multiprocessing.get_context("fork")
    counter = ctx.Value("i", 0)
    children = []
    for _ in range(procs - 1):
        recv, send = ctx.Pipe(duplex=False)
        args = (send, counter, items, chunks, keep_sweep, out_node)
        child = ctx.Process(target=_child, args=args, daemon=True)
        child.start()
        send.close()
        children.append((child, recv))
    arrived: queue.SimpleQueue = queue.SimpleQueue()
    for _, recv in children:  # threads only after the forks
        threading.Thread(target=_receive, args=(recv, arrived), daemon=True).start()
    finished: set[int] = set()
    running = len(children)

    def take(block: bool) -> None:
        nonlocal running
        while running and (block or not arrived.empty()):
            got = arrived.get()
            if got is None:
                running -= 1
            else:
                done(got[1])
                finished.add(got[0])

    try:
        with _blas_controller().limit(limits=1, user_api="blas"):
            for k in _take(counter, len(chunks)):
                done(_compute(items, *chunks[k], keep_sweep, out_node))
                finished.add(k)
                take(block=False)
            take(block=True)
            for k in sorted(set(range(len(chunks))) - finished):  # a child died: again here
                done(_compute(items, *chunks[k], keep_sweep, out_node))
    finally:
        for child, _ in children:
            if child.is_alive() and running:  # an error here: do not leave them waiting
                child.terminate()
            child.join()


def _chunks(n: int, procs: int) -> list[tuple[int, int]]:
    """Item ranges for the processes to take in turn: ``_CHUNK`` each, smaller towards the
    end (down to a quarter), so the processes finish together."""
    out, lo = [], 0
    while lo < n:
        size = _CHUNK if procs == 1 else max(_CHUNK // 4, min(_CHUNK, (n - lo) // (2 * procs)))
        out.append((lo, min(lo + size, n)))
        lo += size
    return out


def _receive(conn, arrived: queue.SimpleQueue) -> None:
    """Move a child's parts from its pipe to ``arrived``; None when it is finished or dead."""
    while True:
        try:
            got = conn.recv()
        except (EOFError, OSError):
            got = None
        arrived.put(got)
        if got is None:
            conn.close()
            return


def _keep_heap() -> None:
    """In a worker: let glibc keep freed memory for reuse rather than give it back (and take
    it again, a page fault per 4 kB, for the next batch's arrays)."""
    trim_threshold, mmap_threshold = -1, -3  # glibc's mallopt parameters
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(trim_threshold, 1 << 30)
        libc.mallopt(mmap_threshold, 1 << 25)  # 32 MB, the most glibc takes
    except (OSError, AttributeError):
        pass  # not glibc: its defaults


def _take(counter, total: int):
    """Chunk numbers, each handed to exactly one of the processes sharing ``counter``."""
    while True:
        with counter.get_lock():
            k = counter.value
            counter.value = k + 1
        if k >= total:
            return
        yield k


def _child(conn, counter, items: list, chunks: list, keep_sweep: bool, out_node: str) -> None:
    """A forked worker: compute chunks until none is left, sending each when done."""
    _keep_heap()
    with _blas_controller().limit(limits=1, user_api="blas"):
        for k in _take(counter, len(chunks)):
            conn.send((k, _compute(items, *chunks[k], keep_sweep, out_node)))
    conn.send(None)
    conn.close()


def _compute(items: list, lo: int, hi: int, keep_sweep: bool, out_node: str) -> dict:
    """Sweeps, verdicts and measurement fields of ``items[lo:hi]``, packed in arrays."""
    from .ngspice import _label, job_for, pencil_of

    errors, batches = [], []
    circuits = [i for i in range(lo, hi) if isinstance(items[i], Circuit)]
    built, slow = _circuit_pencils([items[i] for i in circuits])
    for batch in built.values():
        index = np.array(circuits)[batch.index]
        labels = [_label(items[i], i) if items[i].meta else f"circuit {i}" for i in index]
        batches.append((index, labels, batch.g, batch.c, batch.g_in, batch.c_in, batch.out))
    groups: dict[int, list] = {}  # the rest, one by one through job_for, then by size
    for i in sorted(set(range(lo, hi)) - set(circuits) | {circuits[k] for k in slow}):
        try:
            job = job_for(items[i], i, keep_sweep, out_node)
            p = pencil_of(job)
        except CktGenError as exc:
            errors.append((i, f"fast engine: {exc}", _label(items[i], i)))
            continue
        groups.setdefault(p.g.shape[0], []).append((i, job.label, p))
    for group in groups.values():
        ps = [p for _, _, p in group]
        batches.append(
            (
                np.array([i for i, _, _ in group]),
                [label for _, label, _ in group],
                *(np.stack([getattr(p, f) for p in ps]) for f in _FIELDS),
                np.array([p.out for p in ps]),
            )
        )
    parts = [_measure_group(*batch, keep_sweep) for batch in batches]
    return _joined(parts, errors, keep_sweep)


def _circuit_pencils(circuits: Sequence[Circuit]) -> tuple[dict, list[int]]:
    """The testbench pencils of circuits by size (``mna.PencilBatch``, indices into
    ``circuits``), and the circuits left to ``job_for`` (broken, unusual, or with a 0 Ω
    resistor)."""
    if not circuits:
        return {}, []
    nodes, edges, sizes, counts = [], [], [], []
    for c in circuits:
        nodes += c.nodes
        edges += c.edges
        sizes.append(len(c.nodes))
        counts.append(len(c.edges))
    flat = list(chain.from_iterable(map(_NODE, nodes)))  # type, pos, r, c, gm per node
    ends = list(chain.from_iterable(edges))
    odd = set(map(type, flat[0::5])) | set(map(type, flat[1::5])) | set(map(type, ends))
    if odd - {int} or set(map(len, edges)) - {2}:  # bools, floats or odd edges: sort out
        plain = [k for k, c in enumerate(circuits) if _plain(c)]
        built, slow = _circuit_pencils([circuits[k] for k in plain])
        built = {n: replace(b, index=np.array(plain)[b.index]) for n, b in built.items()}
        rest = set(range(len(circuits))) - set(plain)
        return built, sorted(rest | {plain[k] for k in slow})
    table = np.fromiter(flat, dtype=float, count=len(flat)).reshape(-1, 5)  # None → NaN
    values = table[:, 2:]
    sizes_a = np.array(sizes)
    unusual = np.zeros(len(circuits), dtype=bool)
    if np.isnan(values).sum() != flat.count(None):  # a NaN value, not a missing one
        unusual = np.array(
            [any(_is_nan(v) for nd in c.nodes for v in _NODE(nd)[2:]) for c in circuits]
        )
    els = elements_many(
        table[:, 0].astype(np.int64),
        table[:, 1].astype(np.int64),
        values,
        sizes_a,
        np.fromiter(ends, dtype=np.int64, count=len(ends)).reshape(-1, 2),
        np.array(counts),
    )
    built, bad = pencils_many(els.circuit, els.kind, els.nets, els.value, len(circuits), OUT_CODE)
    if unusual.any():
        built = {n: _subset(b, ~unusual[b.index]) for n, b in built.items()}
    return built, np.flatnonzero(~els.ok | bad | unusual).tolist()


def _subset(b: PencilBatch, keep: np.ndarray) -> PencilBatch:
    return PencilBatch(b.index[keep], b.g[keep], b.c[keep], b.g_in[keep], b.c_in[keep], b.out[keep])


def _plain(c: Circuit) -> bool:
    """Whether a circuit's types, positions and edges are plain ints (else ``job_for``)."""
    if any(type(nd.type) is not int or type(nd.pos) is not int for nd in c.nodes):
        return False
    return all(len(e) == 2 and type(e[0]) is int and type(e[1]) is int for e in c.edges)


def _is_nan(v: Any) -> bool:
    return v is not None and v != v


def _measure_group(index, labels, g, c, g_in, c_in, out, keep_sweep: bool) -> dict:
    """Verdicts, sweeps and measurement fields of stacked pencils of one size: the verdicts
    for all at once, the sweeps ``_BATCH`` at a time (their arrays stay in cache)."""
    modes = _modes(g, c)
    v = verdicts(g, c, g_in, c_in, out, poles=modes[1])
    k, n = g.shape[:2]
    m = min(n, 4)
    stable = np.where(v.stable, 1, 0).astype(np.int8)
    cl_stable = np.where(v.cl_stable, 1, 0).astype(np.int8)
    sign = v.sign.astype(np.int8)
    poles = np.full((k, 4), np.nan, dtype=complex)
    cl_poles = np.full((k, 4), np.nan, dtype=complex)
    poles[:, :m], cl_poles[:, :m] = v.poles[:, :m], v.cl_poles[:, :m]
    n_poles = np.full(k, m, dtype=np.int8)
    n_cl = n_poles.copy()
    settling = v.settling_s.copy()
    reasons = {}
    for j in np.flatnonzero(v.careful):  # QZ, one by one
        st = analyse(Pencil(g[j], c[j], g_in[j], c_in[j], int(out[j]), ()))
        stable[j], cl_stable[j], sign[j] = _tri(st.stable), _tri(st.cl_stable), st.sign
        for arr, count, row in (
            (poles, n_poles, st.dominant()),
            (cl_poles, n_cl, st.dominant(True)),
        ):
            arr[j, : len(row)], count[j] = row, len(row)
        settling[j] = np.nan if st.settling_s is None else st.settling_s
        if st.reason is not None:
            reasons[j] = st.reason
    fit = _fit(g, c, g_in, c_in, out, _W, modes)
    fields, pm, sweeps = [], [], []
    for a in range(0, k, _BATCH):
        part = (x[a : a + _BATCH] for x in (g, c, g_in, c_in, out))
        h = _sweep_fitted(*part, _W, tuple(x[a : a + _BATCH] for x in fit))
        f, p = measure_many(OCB_FREQ_HZ, h, sign[a : a + _BATCH])
        fields += f
        pm += p
        if keep_sweep:
            sweeps.append(h)
    return {
        "index": np.asarray(index),
        "labels": list(labels),
        "fields": fields,
        "pm": pm,
        "stable": stable,
        "cl_stable": cl_stable,
        "sign": sign,
        "poles": poles,
        "n_poles": n_poles,
        "cl_poles": cl_poles,
        "n_cl": n_cl,
        "settling": settling,
        "reasons": reasons,
        "h": np.concatenate(sweeps) if keep_sweep else None,
    }


def _tri(x: bool | None) -> int:
    return -1 if x is None else int(x)


def _joined(parts: list[dict], errors: list, keep_sweep: bool) -> dict:
    """One part from many (``_measure_group``), with the items that failed."""
    out: dict[str, Any] = {"errors": errors, "reasons": {}}
    base = 0
    for p in parts:
        out["reasons"].update({base + j: r for j, r in p["reasons"].items()})
        base += len(p["index"])
    for key in ("labels", "fields", "pm"):
        out[key] = [x for p in parts for x in p[key]]
    arrays = (
        "index",
        "stable",
        "cl_stable",
        "sign",
        "poles",
        "n_poles",
        "cl_poles",
        "n_cl",
        "settling",
    )
    for key in arrays + (("h",) if keep_sweep else ()):
        if parts:
            out[key] = np.concatenate([p[key] for p in parts])
        else:
            out[key] = np.zeros((0, 4) if "poles" in key else (0, _W.size) if key == "h" else 0)
    if not keep_sweep:
        out["h"] = None
    return out
