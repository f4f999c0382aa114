"""Exact stability of a linear amplifier from its MNA pencil (docs/simulation.md, "Stability").

deck → mna → **stability** → measurement. The poles of H(s) = V(out)/V(in) are the finite
generalized eigenvalues of the pencil: det(G + s·C) = 0. Two verdicts:

- ``stable`` — open loop: every pole has a negative real part.
- ``cl_stable`` — the amplifier closed in unity-gain *negative* feedback,
  V(in) = u − k·V(out) with k = sgn H(0), the sign of the exact DC gain (the solution of
  G·x = −g_in, not the 1 Hz point: with 200 dB of gain the first poles lie below 1 Hz). An
  inverting amplifier (H(0) < 0) is therefore closed with k = −1; H(0) = 0 (below 1e-12 of
  the largest DC node voltage, i.e. roundoff) counts as k = +1. The closed-loop pencil is
  the open-loop one plus a rank-one term: G − k·g_in·e_outᵀ, C − k·c_in·e_outᵀ.

**Tolerance.** A pole counts as stable only when Re p < −``REL_TOL``·|p| (1e-6): a pole on
the imaginary axis (an ideal integrator or a lossless resonator), or within 1e-6 of it
relative to its own magnitude (a quality factor above 5e5), is not stable, so a circuit that
close to the axis fails a spec. The poles come from balanced ``dgeev`` on A = −C⁻¹G, batched
(``analyse_many``), or from QZ on the frequency-scaled pencil when C is singular
(``analyse``). On 2,400 random OCB circuits every verdict agrees with 50-digit eigenvalues
and with an ngspice transient, and the smallest margin |Re p| was 1e4 times the pole error
(benchmarks/stability_crosscheck.py).

For ``cl_stable`` circuits the 1 % settling time of the unity-gain step response comes from
the closed-loop poles and residues: y(t) = T(0) + Σ rᵢ/pᵢ·exp(pᵢ t); it is the last time
|y − T(0)| exceeds 1 % of |T(0)| on a 1,000-point logarithmic time grid that ends where
the sum of the modes' envelopes falls below that 1 %, refined on a linear grid that
resolves the ringing after the last sampled exit (within 0.3 % of a dense evaluation on
160 circuits; the log grid alone was up to 16 % early). Both searches evaluate the response
only at the samples that can decide (``_last_exit``: none beyond where the envelope is surely
inside the band), the same answer as evaluating every sample at a fifth of the cost.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from .mna import Pencil

REL_TOL = 1e-6  # a pole is stable only if Re p < −REL_TOL·|p|
SETTLE_TOL = 0.01  # settling band: 1 % of the final value
N_DOMINANT = 4  # poles reported: those with the largest real parts
_FINITE = 1e-11  # |β| ≤ _FINITE·|α| (equilibrated pencil) is an infinite eigenvalue
_LOG_GRID = np.geomspace(1e-9, 1.0, 1000)  # settling search grid, × the end time
_UNIT_GRID = np.linspace(0.0, 1.0, 64)  # refinement across one step of it
_ZERO_DC = 1e-12  # |H(0)| below this × the largest DC node voltage is roundoff: H(0) = 0
_MARGIN = 1e-9  # envelope bound vs the band: beyond rounding, so the bound decides exactly
_BLOCK = 8  # samples first evaluated, searching backwards for the last exit


@dataclass(frozen=True)
class Stability:
    """Stability verdicts of one amplifier.

    Attributes:
        stable: every open-loop pole in the left half plane (None when unknown).
        cl_stable: likewise for the unity-gain negative-feedback loop.
        sign: k = sgn H(0): +1 non-inverting, −1 inverting (+1 when H(0) = 0).
        dc_gain: exact H(0) (None when it is infinite or unknown).
        poles: open-loop poles (rad/s), largest real part first.
        cl_poles: closed-loop poles, likewise.
        settling_s: 1 % settling time of the unity-gain step response (None unless
            ``cl_stable`` and the final value is non-zero).
        reason: why the verdicts are unknown (None when known).
    """

    stable: bool | None
    cl_stable: bool | None
    sign: int
    dc_gain: float | None
    poles: tuple[complex, ...] = ()
    cl_poles: tuple[complex, ...] = ()
    settling_s: float | None = None
    reason: str | None = None

    @classmethod
    def unknown(cls, reason: str) -> Stability:
        return cls(None, None, 1, None, reason=reason)

    def dominant(self, closed: bool = False) -> list[complex]:
        """The ``N_DOMINANT`` poles with the largest real parts."""
        return list((self.cl_poles if closed else self.poles)[:N_DOMINANT])


def is_stable(poles: np.ndarray) -> bool:
    """True when every pole has Re p < −REL_TOL·|p| (see the module doc)."""
    poles = np.asarray(poles, dtype=complex)
    return bool(np.all(poles.real < -REL_TOL * np.abs(poles)))


def pencil_poles(g: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Finite roots of det(G + s·C) (rad/s), largest real part first.

    Raises:
        ValueError: when the pencil is singular (det ≡ 0: a floating net, a loop of
            voltage sources).

    Shapes:
        g, c: ``[n, n]``; returns ``[m]`` complex, m ≤ n.
    """
    from scipy.linalg.lapack import dggev

    if g.shape[0] == 0:
        return np.zeros(0, dtype=complex)
    a, b, w0 = _scaled(g, c)
    # LAPACK's QZ straight away: scipy.linalg.eig adds ≈ 30 µs of checks per call here
    alphar, alphai, beta, _, _, _, info = dggev(a, b, compute_vl=0, compute_vr=0)
    if info != 0:
        raise ValueError(f"the QZ iteration did not converge (LAPACK info {info})")
    alpha = alphar + 1j * alphai
    if np.any(np.maximum(np.abs(alpha), np.abs(beta)) < 1e-13):  # α = β = 0: det ≡ 0
        raise ValueError("singular small-signal system (a floating net or a source loop)")
    finite = np.abs(beta) > _FINITE * np.abs(alpha)
    poles = alpha[finite] / beta[finite] * w0
    return _ordered(poles)


def _scaled(g: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(−G, C·w0) and the frequency scale w0 = max|G|/max|C| (rad/s).

    The eigenvalues of the scaled pencil are p/w0. Without the scale, conductances of
    1e-7…1e-2 S meet capacitances of 1e-15…1e-12 F and QZ misjudges which eigenvalues are
    infinite; with it, the verdicts agree with those of 50-digit eigenvalues on every one of
    2,400 random circuits (benchmarks/stability_crosscheck.py), the worst pole error being
    a few parts in 1e5 of a tiny pole next to 1e10 rad/s ones. Row and column equilibration
    was measured to add nothing.
    """
    gn, cn = np.abs(g).max(), np.abs(c).max()
    w0 = float(gn / cn) if gn > 0 and cn > 0 else 1.0
    return -g, c * w0, w0


def dc_gain(p: Pencil, poles: np.ndarray) -> float:
    """H(0) from the DC solution G·x = −g_in; ±inf for a pole at the origin.

    When G is singular (a pole at s = 0), the sign comes from H(σ) at a small positive
    real σ, below every other pole, and the magnitude is infinite.
    """
    big = float(np.abs(poles).max()) if poles.size else 0.0
    at_origin = poles.size and float(np.abs(poles).min()) <= 1e-13 * big
    if not at_origin:
        try:
            x = np.linalg.solve(p.g, -p.g_in)
            h0 = float(x[p.out])
            if math.isfinite(h0):
                return 0.0 if abs(h0) <= _ZERO_DC * float(np.abs(x).max()) else h0
        except np.linalg.LinAlgError:
            pass
    nonzero = np.abs(poles)[np.abs(poles) > 0]
    sigma = 1e-3 * float(nonzero.min()) if nonzero.size else 1e-9
    try:
        h = float(p.transfer(np.array([sigma]))[0].real)
    except np.linalg.LinAlgError:
        raise ValueError("singular MNA pencil: the circuit has no unique response") from None
    return math.copysign(math.inf, h) if h != 0 else 0.0


def closed_loop(p: Pencil, k: float) -> Pencil:
    """The pencil of the loop V(in) = u − k·V(out) (u the new input)."""
    g, c = p.g.copy(), p.c.copy()
    g[:, p.out] -= k * p.g_in
    c[:, p.out] -= k * p.c_in
    return Pencil(g, c, p.g_in, p.c_in, p.out, p.unknowns)


def analyse(p: Pencil, settling: bool = True) -> Stability:
    """Both verdicts, the dominant poles and (when closed-loop stable) the settling time."""
    try:
        poles = pencil_poles(p.g, p.c)
    except ValueError as exc:
        return Stability.unknown(str(exc))
    try:
        h0 = dc_gain(p, poles)
    except ValueError as exc:
        return Stability.unknown(str(exc))
    sign = -1 if h0 < 0 else 1
    cl = closed_loop(p, sign)
    try:
        cl_poles = pencil_poles(cl.g, cl.c)
    except ValueError as exc:
        return Stability(is_stable(poles), None, sign, _finite(h0), tuple(poles), reason=str(exc))
    cl_ok = is_stable(cl_poles)
    settle = settling_time(cl) if (cl_ok and settling) else None
    return Stability(
        is_stable(poles), cl_ok, sign, _finite(h0), tuple(poles), tuple(cl_poles), settle
    )


def analyse_many(pencils: list[Pencil], settling: bool = True) -> list[Stability]:
    """``analyse`` for many pencils at once: batched LAPACK calls per matrix size.

    When C is invertible (every OCB circuit without a 0 Ω or 0 F element), the poles are the
    eigenvalues of A = −C⁻¹·G (balanced ``dgeev``, one gufunc call per size) and the step
    response is exact from A's eigenvectors; the other pencils go through ``analyse`` (QZ).
    Both paths agree with 50-digit eigenvalues (tests/test_stability.py).
    """
    out: list[Stability | None] = [None] * len(pencils)
    sizes: dict[int, list[int]] = {}
    for i, p in enumerate(pencils):
        sizes.setdefault(p.g.shape[0], []).append(i)
    # OpenBLAS would spread the batched 4×4 solves over threads that then spin, burning
    # the cores the ngspice workers need (measured: +0.25 ms of CPU per circuit)
    with _blas_controller().limit(limits=1, user_api="blas"):
        for n, idx in sizes.items():
            for i, st in zip(idx, _analyse_size(n, [pencils[i] for i in idx], settling)):
                out[i] = st
    return out  # type: ignore[return-value]


@functools.lru_cache(maxsize=1)
def _blas_controller():
    """threadpoolctl's view of the BLAS libraries numpy loaded (made once, after numpy)."""
    import scipy.linalg.lapack  # noqa: F401 - its own OpenBLAS, for the QZ fallback
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _regular(m: np.ndarray) -> np.ndarray:
    """Which matrices of a stack are safely invertible (|det| not tiny for their scale)."""
    n = m.shape[-1]
    sign, logdet = np.linalg.slogdet(m)
    scale = np.abs(m).max(axis=(1, 2))
    with np.errstate(divide="ignore"):
        return (sign != 0) & (logdet > n * np.log(np.where(scale > 0, scale, 1.0)) - 30.0)


def _analyse_size(n: int, ps: list[Pencil], settling: bool) -> list[Stability]:
    if n == 0:
        return [analyse(p, settling) for p in ps]
    v = verdicts(
        np.stack([p.g for p in ps]),
        np.stack([p.c for p in ps]),
        np.stack([p.g_in for p in ps]),
        np.stack([p.c_in for p in ps]),
        np.array([p.out for p in ps]),
        settling,
    )
    return [analyse(p, settling) if v.careful[j] else v.stability(j) for j, p in enumerate(ps)]


@dataclass(frozen=True)
class Verdicts:
    """``analyse`` of a batch of pencils of one size, as arrays (``verdicts``).

    Attributes:
        careful: where these arrays say nothing: ``analyse`` (QZ) decides those one by one.
        stable, cl_stable, sign, dc_gain: ``Stability``'s fields.
        poles, cl_poles: all poles, each row largest real part first.
        settling_s: the settling time, NaN where ``Stability`` has None.

    Shapes:
        poles, cl_poles: ``[K, n]``; the others ``[K]``.
    """

    careful: np.ndarray
    stable: np.ndarray
    cl_stable: np.ndarray
    sign: np.ndarray
    dc_gain: np.ndarray
    poles: np.ndarray
    cl_poles: np.ndarray
    settling_s: np.ndarray

    def stability(self, j: int) -> Stability:
        """Row ``j`` as a ``Stability`` (not for ``careful`` rows)."""
        settle = self.settling_s[j]
        return Stability(
            bool(self.stable[j]),
            bool(self.cl_stable[j]),
            int(self.sign[j]),
            float(self.dc_gain[j]),
            tuple(self.poles[j]),
            tuple(self.cl_poles[j]),
            None if np.isnan(settle) else float(settle),
        )


def verdicts(
    g: np.ndarray,
    c: np.ndarray,
    g_in: np.ndarray,
    c_in: np.ndarray,
    out: np.ndarray,
    settling: bool = True,
    poles: np.ndarray | None = None,
) -> Verdicts:
    """``analyse_many``'s batched path on stacked pencils of one size (``Pencil`` fields).

    ``poles``, when given, must be ``eigvals(−solve(c, g))`` (NaN rows where C is singular):
    the exact engine's sweep has them already.

    Shapes:
        g, c: ``[K, n, n]``; g_in, c_in: ``[K, n]``; out: ``[K]``; poles: ``[K, n]``.
    """
    k, n = g.shape[:2]
    careful = ~_regular(c)  # QZ, one by one: C singular (a 0 Ω or 0 F element, an L or E)
    stable = np.zeros(k, dtype=bool)
    cl_stable = np.zeros(k, dtype=bool)
    sign = np.ones(k)
    dc = np.zeros(k)
    all_poles = np.zeros((k, n), dtype=complex)
    all_cl = np.zeros((k, n), dtype=complex)
    settle = np.full(k, np.nan)
    k_ok = np.flatnonzero(~careful)
    if k_ok.size:
        g, c, g_in, c_in, out_idx = g[k_ok], c[k_ok], g_in[k_ok], c_in[k_ok], out[k_ok]
        rows = np.arange(k_ok.size)
        if poles is None:
            p = np.linalg.eigvals(-np.linalg.solve(c, g))
        else:
            p = poles[k_ok]
        mag = np.abs(p)
        dc_ok = mag.min(axis=1) > 1e-13 * mag.max(axis=1)  # else a pole at the origin: QZ
        with np.errstate(all="ignore"):
            x_dc = np.linalg.solve(np.where(dc_ok[:, None, None], g, np.eye(n)), -g_in[..., None])
        h0 = x_dc[rows, out_idx, 0]
        h0 = np.where(np.abs(h0) <= _ZERO_DC * np.abs(x_dc[..., 0]).max(axis=1), 0.0, h0)
        sgn = np.where(h0 < 0, -1.0, 1.0)
        onehot = np.zeros_like(g_in)
        onehot[rows, out_idx] = 1.0
        g_cl = g - sgn[:, None, None] * g_in[:, :, None] * onehot[:, None, :]
        c_cl = c - sgn[:, None, None] * c_in[:, :, None] * onehot[:, None, :]
        cl_ok = _regular(c_cl) & dc_ok & np.isfinite(h0)
        a_cl = np.zeros_like(g_cl)
        a_cl[cl_ok] = -np.linalg.solve(c_cl[cl_ok], g_cl[cl_ok])
        cl_p = np.zeros((k_ok.size, n), dtype=complex)
        cl_p[cl_ok] = np.linalg.eigvals(a_cl[cl_ok])
        st = np.all(p.real < -REL_TOL * np.abs(p), axis=1)
        cl_st = np.all(cl_p.real < -REL_TOL * np.abs(cl_p), axis=1)
        todo = np.flatnonzero(cl_st & cl_ok) if settling else np.zeros(0, dtype=int)
        if todo.size:
            settle[k_ok[todo]] = _settling_batch(
                a_cl[todo], g_cl[todo], c_cl[todo], g_in[todo], c_in[todo], out_idx[todo]
            )
        careful[k_ok[~cl_ok]] = True  # the closed loop needs QZ: the careful way
        stable[k_ok], cl_stable[k_ok], sign[k_ok], dc[k_ok] = st, cl_st, sgn, h0
        all_poles[k_ok], all_cl[k_ok] = _ordered_rows(p), _ordered_rows(cl_p)
    return Verdicts(careful, stable, cl_stable, sign, dc, all_poles, all_cl, settle)


def _ordered(poles: np.ndarray) -> np.ndarray:
    """Largest real part first; conjugates with the positive imaginary part first."""
    return poles[np.lexsort((-poles.imag, -poles.real))]


def _ordered_rows(poles: np.ndarray) -> np.ndarray:
    """``_ordered`` for every row of ``[K, n]``."""
    order = np.lexsort((-poles.imag, -poles.real), axis=-1)
    return np.take_along_axis(poles, order, axis=-1)


def _settling_batch(a, g, c, g_in, c_in, out_idx, tol: float = SETTLE_TOL) -> np.ndarray:
    """1 % settling times of stable state matrices A = −C⁻¹G (NaN where not defined).

    The state after a unit input step is x(t) = x_dc + e^{At}·(x(0⁺) − x_dc), with
    x_dc = −G⁻¹·g_in and x(0⁺) = −C⁻¹·c_in (a capacitor to the input jumps with it).
    """
    rows = np.arange(a.shape[0])
    lam, vec = np.linalg.eig(a)
    x_dc = np.linalg.solve(g, -g_in[..., None])[..., 0]
    x_0 = np.linalg.solve(c, -c_in[..., None])[..., 0]
    y_inf = x_dc[rows, out_idx]
    lam, vec = lam.astype(complex), vec.astype(complex)
    coef = np.empty_like(lam)  # y(t) − y_inf = Σ coefᵢ·e^{λᵢt}
    cond = np.empty(len(a))
    # eig's type is the batch's (complex if any eigenvalue is): solve each matrix in its own
    # type, so a circuit's figure does not depend on the others in the batch
    real = (lam.imag == 0).all(axis=1)
    with np.errstate(all="ignore"):
        for part, v in ((real, vec.real), (~real, vec)):
            part = np.flatnonzero(part)
            if part.size:
                v = v[part]
                modes = np.linalg.solve(v, (x_0 - x_dc)[part, :, None])[..., 0]
                coef[part] = v[np.arange(part.size), out_idx[part], :] * modes
                cond[part] = np.linalg.cond(v)
    out = np.full(a.shape[0], np.nan)
    # repeated poles (defective A) or no final value: no figure
    ok = (y_inf != 0) & np.isfinite(coef).all(axis=1) & (cond <= 1e8)
    if ok.any():
        out[ok] = _settle_many(lam[ok], coef[ok], tol * np.abs(y_inf[ok]))
    return out


def _settle_many(lam: np.ndarray, coef: np.ndarray, band: np.ndarray) -> np.ndarray:
    """``_settle`` for N circuits with m modes each, vectorised.

    The log-grid search, the one-step refinement and the dense search of ringing circuits
    each run on all circuits at once.

    Shapes:
        lam, coef: ``[N, m]``; band: ``[N]``; returns ``[N]``.
    """
    env = np.abs(coef)
    out = np.zeros(len(lam))
    todo = np.flatnonzero(env.sum(axis=1) > band)  # the others start inside the band
    if todo.size == 0:
        return out
    lam, coef, env, band = lam[todo], coef[todo], env[todo], band[todo]
    rate = -lam.real
    reach = np.log(np.maximum(env * env.shape[1] / band[:, None], 1.0)) / rate
    t_end = np.maximum(reach.max(axis=1), 1e-18)  # each mode below band/m: a safe end
    size = _LOG_GRID.size
    k, crossed, first_in = _last_exit(
        lambda r, i: t_end[r] * _LOG_GRID[i], np.full(len(lam), size), lam, coef, env, band
    )
    start = t_end * _LOG_GRID[k]
    nxt = t_end * _LOG_GRID[np.minimum(k + 1, size - 1)]
    stop = np.where(first_in < size, t_end * _LOG_GRID[np.minimum(first_in, size - 1)], t_end)
    stop = np.where(crossed, stop, t_end)
    live = env * np.exp(lam.real * start[:, None]) > 1e-3 * band[:, None]
    w = np.where(live, np.abs(lam.imag), 0.0).max(axis=1)
    calm = w * stop * (_LOG_GRID[1] / _LOG_GRID[0] - 1.0) < math.pi / 8
    res = np.where(crossed, nxt, t_end * _LOG_GRID[0])
    fine = np.flatnonzero(calm & crossed)
    if fine.size:  # 64 points across the one log step of the last exit
        tf = start[fine, None] + (nxt - start)[fine, None] * _UNIT_GRID[None, :]
        above = np.abs(_response(tf, lam[fine], coef[fine])[0]) > band[fine, None]
        kf = above.shape[1] - 1 - np.argmax(above[:, ::-1], axis=1)
        last = tf[np.arange(fine.size), np.minimum(kf + 1, tf.shape[1] - 1)]
        res[fine] = np.where(above.any(axis=1), last, start[fine])
    ring = np.flatnonzero(~calm & crossed)
    if ring.size:
        # The log grid (2 % steps) can step over ringing peaks (a Q ≈ 1,000 pole made its
        # last sampled exit 8–16 % early with 2 % steps). Search again from there up to
        # where the modes' envelope sum is inside the band: 16 points per period of the
        # fastest mode still above 1e-3 of the band (1,000–20,000 points).
        a, b = start[ring], stop[ring]
        n = np.array(
            [
                int(min(max(1000, math.ceil((y - x) * f * 8 / math.pi)), 2e4))
                for x, y, f in zip(a, b, w[ring])
            ]
        )
        step = (b - a) / (n - 1)  # np.linspace(a, b, n), sample by sample

        def dense(r: np.ndarray, i: np.ndarray) -> np.ndarray:
            return np.where(i == n[r] - 1, b[r], i * step[r] + a[r])

        kd, hit, _ = _last_exit(dense, n, lam[ring], coef[ring], env[ring], band[ring])
        rr = np.arange(ring.size)
        res[ring] = np.where(hit, dense(rr, np.minimum(kd + 1, n - 1)), a)
    out[todo] = res
    return out


def _last_exit(at, size, lam, coef, env, band):
    """On each row's grid: the last sample k where |y| = |Σ coefᵢ·e^{λᵢt}| exceeds the band
    (the last sample when none does), whether one does, and the first sample after k where
    the envelope Σ|coefᵢ|·|e^{λᵢt}| is inside the band (the grid size when none is).

    The same samples and the same arithmetic as evaluating every sample, but only where the
    answer can be: the envelope bounds |y| and falls with t, so beyond the sample where it
    is surely inside the band (a binary search on it) nothing needs evaluating, and the last
    exit is searched backwards from there in blocks, each twice the last.

    Args:
        at: ``at(rows, i)``: the times of samples ``i`` of those rows (ascending in i).
        size: samples per row.

    Shapes:
        size, band: ``[N]``; lam, coef, env: ``[N, m]``.
    """
    surely_in = _first_below(at, size, lam.real, env, band * (1.0 - _MARGIN))
    k = size - 1
    crossed = np.zeros(len(lam), dtype=bool)
    first_in = surely_in.copy()
    pos = surely_in.copy()
    todo = np.flatnonzero(pos > 0)
    block = _BLOCK
    while todo.size:
        idx = pos[todo, None] - block + np.arange(block)
        valid = idx >= 0
        idx = np.maximum(idx, 0)
        y, decay = _response(at(todo[:, None], idx), lam[todo], coef[todo])
        over = (np.abs(y) > band[todo, None]) & valid
        hit = over.any(axis=1)
        last = block - 1 - np.argmax(over[:, ::-1], axis=1)
        k[todo[hit]] = idx[hit, last[hit]]
        crossed[todo[hit]] = True
        inside = np.einsum("ntm,nm->nt", decay, env[todo]) <= band[todo, None]
        inside &= valid & (np.arange(block) > np.where(hit, last, -1)[:, None])
        seen = inside.any(axis=1)
        first = idx[np.arange(todo.size), np.argmax(inside, axis=1)]
        first_in[todo[seen]] = first[seen]  # blocks go backwards: the earliest so far
        pos[todo] -= block
        todo = todo[~hit & (pos[todo] > 0)]
        block *= 2
    return k, crossed, first_in


def _response(t: np.ndarray, lam: np.ndarray, coef: np.ndarray) -> tuple[np.ndarray, ...]:
    """y = Re Σ coefᵢ·e^{λᵢt} at samples ``t`` of each row, and every mode's |e^{λᵢt}|
    (real arithmetic: cos and sin only for the oscillating modes).

    Shapes:
        t: ``[N, S]``; lam, coef: ``[N, m]``; returns ``[N, S]`` and ``[N, S, m]``.
    """
    decay = np.exp(t[:, :, None] * lam.real[:, None, :])
    y = np.einsum("ntm,nm->nt", decay, coef.real)
    for i in range(lam.shape[1]):
        rows = np.flatnonzero(lam.imag[:, i] != 0)
        if rows.size:
            turn = t[rows] * lam.imag[rows, i, None]
            wave = coef.real[rows, i, None] * (np.cos(turn) - 1.0)
            wave -= coef.imag[rows, i, None] * np.sin(turn)
            y[rows] += decay[rows, :, i] * wave
    return y, decay


def _first_below(at, size, decay, env, level) -> np.ndarray:
    """Per row, the first sample where Σ envᵢ·e^{Re λᵢ·t} ≤ ``level`` (the grid size when
    none is): a binary search, the sum falling with t (``decay`` = Re λ < 0)."""
    lo, hi = np.zeros(len(env), dtype=np.int64), np.asarray(size, dtype=np.int64).copy()
    open_ = np.flatnonzero(lo < hi)
    while open_.size:
        mid = (lo[open_] + hi[open_]) // 2
        bound = (env[open_] * np.exp(decay[open_] * at(open_, mid)[:, None])).sum(axis=1)
        below = bound <= level[open_]
        hi[open_[below]] = mid[below]
        lo[open_[~below]] = mid[~below] + 1
        open_ = open_[lo[open_] < hi[open_]]
    return lo


def _settle(lam: np.ndarray, coef: np.ndarray, band: float) -> float:
    """Last time |Σ coefᵢ·e^{λᵢt}| exceeds ``band`` (module doc: grid and end time)."""
    return float(_settle_many(lam[None], coef[None], np.array([band]))[0])


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def settling_time(p: Pencil, tol: float = SETTLE_TOL) -> float | None:
    """1 % settling time (s) of the step response of a stable pencil's H (module doc).

    Returns None when the final value is zero or the residues cannot be trusted (repeated
    poles: the partial-fraction sum then fails to reproduce y(0+)).
    """
    from scipy.linalg.lapack import zggev

    if p.g.shape[0] == 0:
        return 0.0
    try:
        y_inf = float(np.linalg.solve(p.g, -p.g_in)[p.out])
    except np.linalg.LinAlgError:
        return None
    if y_inf == 0 or not math.isfinite(y_inf):
        return None
    a, b, w0 = _scaled(p.g, p.c)
    alpha, beta, vl, vr, _, info = zggev(a, b, compute_vl=1, compute_vr=1)
    finite = np.abs(beta) > _FINITE * np.abs(alpha)
    if info != 0 or not finite.any():
        return None if info != 0 else 0.0
    lam = alpha[finite] / beta[finite] * w0
    vl, vr = vl[:, finite], vr[:, finite]
    # Residue of H at λ: v_out·(wᴴ·b(λ)) / (wᴴ·C·v), with b(s) = −(g_in + s·c_in) (the
    # scaled pencil has the same eigenvectors).
    b_lam = -(p.g_in[:, None] + p.c_in[:, None] * lam[None, :])
    wb = np.einsum("ij,ij->j", vl.conj(), b_lam)
    wcv = np.einsum("ij,ij->j", vl.conj(), p.c @ vr)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        coef = vr[p.out] * wb / wcv / lam  # rᵢ/pᵢ
    if not np.all(np.isfinite(coef)):
        return None
    h_inf = _h_infinity(p, float(np.abs(lam).max()))
    if h_inf is None or abs(y_inf + coef.sum() - h_inf) > 1e-4 * (abs(y_inf) + abs(coef).sum()):
        return None  # partial fractions do not add up (repeated poles): no figure
    return _settle(lam, coef, tol * abs(y_inf))


def _h_infinity(p: Pencil, fastest: float) -> float | None:
    """H(s) as s → ∞ (the direct feed-through), read far above the fastest pole."""
    try:
        h = complex(p.transfer(np.array([1e6j * max(fastest, 1.0)]))[0])
    except np.linalg.LinAlgError:
        return None
    return h.real if math.isfinite(h.real) else None
