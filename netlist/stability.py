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
160 circuits; the log grid alone was up to 16 % early).
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
    g = np.stack([p.g for p in ps])
    c = np.stack([p.c for p in ps])
    g_in = np.stack([p.g_in for p in ps])
    c_in = np.stack([p.c_in for p in ps])
    out_idx = np.array([p.out for p in ps])
    rows = np.arange(len(ps))
    ok = _regular(c)  # else QZ, one by one: C singular (a 0 Ω or 0 F element, an L or E)
    result: list[Stability | None] = [None] * len(ps)
    for i in np.flatnonzero(~ok):
        result[i] = analyse(ps[i], settling)
    k_ok = np.flatnonzero(ok)
    if k_ok.size:
        g, c, g_in, c_in, out_idx = g[k_ok], c[k_ok], g_in[k_ok], c_in[k_ok], out_idx[k_ok]
        rows = np.arange(k_ok.size)
        poles = np.linalg.eigvals(-np.linalg.solve(c, g))
        mag = np.abs(poles)
        dc_ok = mag.min(axis=1) > 1e-13 * mag.max(axis=1)  # else a pole at the origin: QZ
        with np.errstate(all="ignore"):
            x_dc = np.linalg.solve(np.where(dc_ok[:, None, None], g, np.eye(n)), -g_in[..., None])
        h0 = x_dc[rows, out_idx, 0]
        h0 = np.where(np.abs(h0) <= _ZERO_DC * np.abs(x_dc[..., 0]).max(axis=1), 0.0, h0)
        sign = np.where(h0 < 0, -1.0, 1.0)
        onehot = np.zeros_like(g_in)
        onehot[rows, out_idx] = 1.0
        g_cl = g - sign[:, None, None] * g_in[:, :, None] * onehot[:, None, :]
        c_cl = c - sign[:, None, None] * c_in[:, :, None] * onehot[:, None, :]
        cl_ok = _regular(c_cl) & dc_ok & np.isfinite(h0)
        a_cl = np.zeros_like(g_cl)
        a_cl[cl_ok] = -np.linalg.solve(c_cl[cl_ok], g_cl[cl_ok])
        cl_poles = np.linalg.eigvals(a_cl)
        stable = np.all(poles.real < -REL_TOL * np.abs(poles), axis=1)
        cl_stable = np.all(cl_poles.real < -REL_TOL * np.abs(cl_poles), axis=1)
        settle = np.full(k_ok.size, np.nan)
        todo = np.flatnonzero(cl_stable & cl_ok) if settling else np.zeros(0, dtype=int)
        if todo.size:
            settle[todo] = _settling_batch(
                a_cl[todo], g_cl[todo], c_cl[todo], g_in[todo], c_in[todo], out_idx[todo]
            )
        for j, i in enumerate(k_ok):
            if not cl_ok[j]:  # the closed loop needs QZ: do this one the careful way
                result[i] = analyse(ps[i], settling)
                continue
            result[i] = Stability(
                bool(stable[j]),
                bool(cl_stable[j]),
                int(sign[j]),
                float(h0[j]),
                tuple(_ordered(poles[j])),
                tuple(_ordered(cl_poles[j])),
                None if np.isnan(settle[j]) else float(settle[j]),
            )
    return result  # type: ignore[return-value]


def _ordered(poles: np.ndarray) -> np.ndarray:
    """Largest real part first; conjugates with the positive imaginary part first."""
    return poles[np.lexsort((-poles.imag, -poles.real))]


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
    with np.errstate(all="ignore"):
        modes = np.linalg.solve(vec, (x_0 - x_dc)[..., None])[..., 0]
        coef = vec[rows, out_idx, :] * modes  # y(t) − y_inf = Σ coefᵢ·e^{λᵢt}
        cond = np.linalg.cond(vec)
    out = np.full(a.shape[0], np.nan)
    # repeated poles (defective A) or no final value: no figure
    ok = (y_inf != 0) & np.isfinite(coef).all(axis=1) & (cond <= 1e8)
    if ok.any():
        out[ok] = _settle_many(lam[ok], coef[ok], tol * np.abs(y_inf[ok]))
    return out


def _settle_many(lam: np.ndarray, coef: np.ndarray, band: np.ndarray) -> np.ndarray:
    """``_settle`` for N circuits with m modes each, the common case vectorised.

    The log-grid search and the one-step refinement run on all circuits at once; only a
    circuit whose ringing the log grid cannot resolve goes through ``_settle`` alone.

    Shapes:
        lam, coef: ``[N, m]``; band: ``[N]``; returns ``[N]``.
    """
    env = np.abs(coef)
    out = np.zeros(len(lam))
    todo = np.flatnonzero(env.sum(axis=1) > band)  # the others start inside the band
    if todo.size == 0:
        return out
    lam, coef, env, band = lam[todo], coef[todo], env[todo], band[todo]
    rows = np.arange(todo.size)
    rate = -lam.real
    reach = np.log(np.maximum(env * env.shape[1] / band[:, None], 1.0)) / rate
    t_end = np.maximum(reach.max(axis=1), 1e-18)  # each mode below band/m: a safe end
    t = t_end[:, None] * _LOG_GRID[None, :]  # (N, T)
    waves = np.exp(t[:, :, None] * lam[:, None, :])  # (N, T, m)
    over = np.abs(np.einsum("ntm,nm->nt", waves, coef).real) > band[:, None]
    k = over.shape[1] - 1 - np.argmax(over[:, ::-1], axis=1)  # last sample above the band
    start = t[rows, k]
    nxt = t[rows, np.minimum(k + 1, t.shape[1] - 1)]
    envelope = np.einsum("ntm,nm->nt", np.abs(waves), env)
    inside = (envelope <= band[:, None]) & (t > start[:, None])
    stop = np.where(inside.any(axis=1), t[rows, np.argmax(inside, axis=1)], t_end)
    live = env * np.exp(lam.real * start[:, None]) > 1e-3 * band[:, None]
    w = np.where(live, np.abs(lam.imag), 0.0).max(axis=1)
    calm = w * stop * (_LOG_GRID[1] / _LOG_GRID[0] - 1.0) < math.pi / 8
    res = np.where(over.any(axis=1), nxt, t[:, 0])
    fine = np.flatnonzero(calm & over.any(axis=1))
    if fine.size:  # 64 points across the one log step of the last exit
        tf = start[fine, None] + (nxt - start)[fine, None] * _UNIT_GRID[None, :]
        wf = np.exp(tf[:, :, None] * lam[fine, None, :])
        above = np.abs(np.einsum("ntm,nm->nt", wf, coef[fine]).real) > band[fine, None]
        kf = above.shape[1] - 1 - np.argmax(above[:, ::-1], axis=1)
        last = tf[np.arange(fine.size), np.minimum(kf + 1, tf.shape[1] - 1)]
        res[fine] = np.where(above.any(axis=1), last, start[fine])
    for j in np.flatnonzero(~calm & over.any(axis=1)):  # ringing: the careful way
        res[j] = _settle(lam[j], coef[j], float(band[j]))
    out[todo] = res
    return out


def _settle(lam: np.ndarray, coef: np.ndarray, band: float) -> float:
    """Last time |Σ coefᵢ·e^{λᵢt}| exceeds ``band`` (module doc: grid and end time)."""
    env = np.abs(coef)
    if env.sum() <= band:
        return 0.0
    rate = -lam.real
    # each mode below band/m ⇒ the envelope Σ|cᵢ|e^{−σᵢt} below the band: a safe end time
    t_end = max(float(np.max(np.log(np.maximum(env * env.size / band, 1.0)) / rate)), 1e-18)
    t = t_end * _LOG_GRID
    modes = np.exp(np.outer(t, lam))  # (T, m)
    above = np.flatnonzero(np.abs((modes @ coef).real) > band)
    if above.size == 0:
        return float(t[0])
    # The log grid (2 % steps) can step over ringing peaks (a Q ≈ 1,000 pole made its last
    # sampled exit 8–16 % early with 2 % steps). Search again from there up to where the
    # modes' envelope sum is inside the band: 16 points per period of the fastest mode
    # still above 1e-3 of the band (1,000–20,000 points), or 64 points across the one log
    # step of the last exit when nothing rings that fast.
    k = int(above[-1])
    start = float(t[k])
    inside = np.flatnonzero((np.abs(modes) @ env <= band) & (t > start))
    stop = float(t[inside[0]]) if inside.size else t_end
    live = env * np.exp(lam.real * start) > 1e-3 * band
    w = float(np.abs(lam.imag[live]).max(initial=0.0))
    if w * stop * (t[1] / t[0] - 1.0) < math.pi / 8:
        t = start + (float(t[min(k + 1, t.size - 1)]) - start) * _UNIT_GRID
    else:
        n = int(min(max(1000, math.ceil((stop - start) * w * 8 / math.pi)), 2e4))
        t = np.linspace(start, stop, n)
    above = np.flatnonzero(np.abs((np.exp(np.outer(t, lam)) @ coef).real) > band)
    if above.size == 0:
        return start
    return float(t[min(int(above[-1]) + 1, t.size - 1)])


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
