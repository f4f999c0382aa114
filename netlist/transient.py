"""ngspice transient cross-check of the pole-based stability verdicts (``stability.py``).

A test and benchmark tool (tests/test_stability.py, benchmarks/stability_crosscheck.py), not
part of the measurement path. ``stability`` decides from the eigenvalues of the MNA pencil
that ``mna`` assembles from its own reading of the deck; here the simulator itself answers:
the ``ngspice`` program parses the same deck, integrates its step response in time, and we
look whether the response grows. Different parser, different stamps, a different algorithm
(time stepping, no eigenvalues): a wrong stamp sign, a misread value, a misjudged infinite
eigenvalue or a wrong closed-loop sign shows up as a disagreement.

**Deck.** The AC source becomes a PWL step of ``AMPLITUDE`` (1 µV: small signal; the circuit
is linear and the tolerances are scaled with it) rising in 1 % of the fastest pole's time
constant, from the zero state (``uic``), integrated with the trapezoidal rule. Trapezoidal
maps a mode e^{λt} to the per-step factor (1 + λh/2)/(1 − λh/2), whose magnitude exceeds 1
exactly when Re λ > 0, for every step h: growth is never damped away and decay never turns
into growth. Gear (BDF2) is stable in part of the right half plane (large |λh|) and could
hide growth. Closed loop: the source becomes u and an E source holds V(in) = u − k·V(out),
k = sgn H(0) (the unity-gain follower of ``stability.closed_loop``).

**Window.** Unstable: (``GROWTH`` + ln(B/u))/max Re p, long enough for a mode that starts
at e^−30 of the step to outgrow the bound B below (a 200 dB amplifier's B is 1e10·u, so
e^30 alone was not: one such circuit's mode reached 0.26·B), with steps of at most 0.5/|p|
of that pole (much longer steps shrink the trapezoidal growth per period towards 1) and
at most ``MAX_STEPS`` steps.
Stable: ``SETTLE_TAUS`` slowest time constants, at most ``MAX_SPAN`` fastest ones (slower
modes are then not examined). ``settling_plan``: 3 predicted settling times, steps that
resolve every pole still alive by then and reltol 1e-5: an accurate waveform rather than
a verdict.

**Criterion.** A stable system of McMillan degree ≤ n answers an input bounded by u with
|y| ≤ u·‖h‖₁, and ‖h‖₁ ≤ (4n + 1)·max|H(jω)| (Glover: ‖h − D‖₁ ≤ 2n·‖H − D‖∞, and
|D| ≤ max|H|). The response *grows* when its peak in the last quarter of the run exceeds
that bound B on any net: no stable response can. Every top-level net is watched, each
with its own B from its own max|H_net| (the output alone misses a mode it cannot see: an
output tied to the input by a 0 Ω resistor, unstable stages behind it). max|H| is read
from the pencil on a frequency grid that includes every pole's frequency; B is that much
less independent of ``mna``, but the margins are wide: on 2,400 random circuits, open and
closed loop, stable peaks stayed below 0.11·B and unstable ones above 4.9e9·B
(benchmarks/stability_crosscheck.py). Poles within ``stability.REL_TOL`` of the axis
(verdict "not stable" by the tolerance rule) cannot be decided by a finite transient and
are reported as ``marginal``; a mode the input does not excite cannot be seen at all.

**ngspice 39 quirk.** An unstable run may end in "Timestep too small" once the response is
≈ 1e8 V (more often with reltol < 1e-3 and tolerances scaled to a µV input); the points up
to there are kept and judged (``Waveform.aborted`` says so).
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import NetlistError, SimulationError
from .deck import prepare_deck
from .mna import Pencil, pencil_from_deck
from .spice import AC_CARD
from .stability import REL_TOL, Stability, analyse_many, closed_loop

AMPLITUDE = 1e-6  # V: the input step
GROWTH = 30.0  # e-folds of the fastest-growing mode in an unstable window (e^30 ≈ 1e13)
SETTLE_TAUS = 10.0  # a stable window: 10 slowest time constants (e^−10 ≈ 5e-5 left)
MAX_SPAN = 1e8  # … but at most 1e8 fastest time constants (runtime: steps grow from there)
RISE = 0.01  # the step rises in 1 % of the fastest time constant
SAMPLES = 2000  # the largest time step is at most the window / SAMPLES
SETTLE_WINDOW = 3.0  # settling runs last 3 predicted settling times
MAX_STEPS = 2e6  # at most 2e6 steps per run (≈ 10 s of ngspice)
SETTLE_RELTOL = 1e-5  # the 1 % band is 10 × reltol 1e-3: a tail near it needs more digits
LATE = 0.75  # the growth test looks at the window's last quarter
GAIN_FLOOR = 1e-6  # V/V: the least max|H_net| a bound assumes (far above roundoff)
U_NET = "cktgen_u"  # closed loop: the new input net (u)
_CLEAN_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class Plan:
    """How to run and judge one transient.

    Attributes:
        t_stop: window length (s).
        t_max: largest time step (s).
        rise: rise time of the input step (s).
        bounds: ``(net, B)`` for every net watched, the output first: B is the most a
            stable response to the step can reach there (V; module doc).
        marginal: the verdict rests on a pole within ``REL_TOL`` of the axis.
        reltol: ngspice's relative tolerance for the run.
    """

    t_stop: float
    t_max: float
    rise: float
    bounds: tuple[tuple[str, float], ...]
    marginal: bool = False
    reltol: float = 1e-3  # ngspice's default: enough to see growth

    @property
    def bound(self) -> float:
        """B of the output net."""
        return self.bounds[0][1]


@dataclass(frozen=True)
class Waveform:
    """A sampled transient: ngspice's own time points, V(out) and every saved net voltage
    (lower-case net → samples), or why there is none.

    Shapes:
        time, out and each of ``nets``: ``[T]``.
    """

    time: np.ndarray
    out: np.ndarray
    nets: dict[str, np.ndarray] = field(default_factory=dict)
    error: str | None = None
    aborted: str | None = None  # ngspice stopped early (the points up to there are kept)

    @classmethod
    def failed(cls, reason: str) -> Waveform:
        return cls(np.zeros(0), np.zeros(0), {}, reason)


@dataclass(frozen=True)
class Check:
    """A pole verdict next to its transient.

    Attributes:
        stable: the pole verdict (``stable`` or ``cl_stable``); None when unknown.
        grows: the transient grows (None when it could not be run).
        peak: largest |V(out)| in the run's last quarter (V).
        plan: the window and bounds used.
        wave: the waveform.
        error: why there is no transient verdict.
        ratio: the largest late peak / B over the watched nets (> 1: grows).
        net: the net where that ratio is reached.
    """

    stable: bool | None
    grows: bool | None
    peak: float | None
    plan: Plan | None
    wave: Waveform | None
    error: str | None = None
    ratio: float | None = None
    net: str | None = None

    @property
    def agrees(self) -> bool | None:
        """The transient grows exactly when the poles say unstable (None: undecided)."""
        if self.stable is None or self.grows is None or self.plan.marginal:
            return None
        return self.grows == (not self.stable)


def plan_for(
    p: Pencil, st: Stability, closed: bool = False, amplitude: float = AMPLITUDE
) -> Plan | None:
    """The window, step and bound for a pencil's (closed-loop) step response.

    Returns None when the verdict is unknown or there are no poles but at s = 0.
    """
    verdict = st.cl_stable if closed else st.stable
    poles = np.asarray(st.cl_poles if closed else st.poles, dtype=complex)
    mag = np.abs(poles)
    if verdict is None or poles.size == 0 or mag.max() == 0:
        return None
    pencil = closed_loop(p, st.sign) if closed else p
    fastest = float(mag.max())
    lead = int(np.argmax(poles.real))
    marginal = abs(poles.real[lead]) <= REL_TOL * mag[lead]
    bounds = net_bounds(pencil, poles, amplitude)
    if not verdict:
        sigma = float(poles.real[lead])
        if marginal:  # not run (check_decks); a window for callers who want to try
            sigma = max(sigma, REL_TOL * fastest)
        # a mode that starts at e^−GROWTH of the step outgrows every net's B by the end
        biggest = max(b for _, b in bounds)
        t_stop = (GROWTH + math.log(max(biggest / amplitude, 1.0))) / sigma
        t_max = max(min(0.5 / float(mag[lead]), t_stop / SAMPLES), t_stop / MAX_STEPS)
    else:
        t_stop = min(SETTLE_TAUS / float(-poles.real.max()), MAX_SPAN / fastest)
        t_max = t_stop / SAMPLES
    return Plan(t_stop, t_max, RISE / fastest, bounds, bool(marginal))


def settling_plan(p: Pencil, st: Stability, amplitude: float = AMPLITUDE) -> Plan | None:
    """A closed-loop window for measuring the settling time: ``SETTLE_WINDOW`` × the pole
    estimate, with steps of at most 0.2/|p| of the fastest pole still alive by then.

    The growth test needs no such steps (trapezoidal keeps |factor| < 1 for any step), but
    an accurate waveform does: with steps longer than a ringing period, the trapezoidal
    factor of a lightly damped pole is ≈ 1 in magnitude, so ringing decays far too slowly
    (seen: a Q ≈ 2,300 pole at 1.3e11 rad/s made a 0.24 µs settling look like 25 µs).
    A pole that has decayed by e^−30 at the settling time is left to ngspice's step
    control (resolving a 1e9 rad/s pole over a 5 ms settling would take 1e8 steps); at
    most ``MAX_STEPS`` steps. Returns None unless the loop is stable with a settling time.
    """
    if not st.cl_stable or not st.settling_s:
        return None
    poles = np.asarray(st.cl_poles, dtype=complex)
    mag = np.abs(poles)
    live = -poles.real * st.settling_s < GROWTH
    t_stop = SETTLE_WINDOW * st.settling_s
    fastest_live = float(mag[live].max(initial=mag.min()))
    t_max = max(min(t_stop / SAMPLES, 0.2 / fastest_live), t_stop / MAX_STEPS)
    bounds = net_bounds(closed_loop(p, st.sign), poles, amplitude)[:1]  # the output only
    return Plan(t_stop, t_max, RISE / float(mag.max()), bounds, reltol=SETTLE_RELTOL)


def net_bounds(p: Pencil, poles: np.ndarray, amplitude: float) -> tuple[tuple[str, float], ...]:
    """``(net, B)`` for the output and every other top-level net of the pencil.

    B = (4n + 1)·u·max|H_net(jω)|, with max|H_net| at least ``GAIN_FLOOR`` (a net the input
    barely reaches still gets a bound above roundoff). Watching every net catches a mode
    the output cannot see (seen: an output shorted to the input by a 0 Ω resistor, with
    two right-half-plane poles in the stages behind it).
    """
    gains = peak_gains(p, poles)
    nets = [k for k, u in enumerate(p.unknowns) if not u.startswith("i(") and "." not in u]
    order = [p.out] + [k for k in nets if k != p.out]
    scale = (4 * poles.size + 1) * amplitude
    return tuple((p.unknowns[k], scale * max(float(gains[k]), GAIN_FLOOR)) for k in order)


def peak_gains(p: Pencil, poles: np.ndarray) -> np.ndarray:
    """max over ω of |x_k(jω)/V(in)| for every unknown k, on a log grid spanning the poles
    plus every pole's |p| and |Im p|, 0 and far above the fastest pole.

    Shapes:
        returns ``[n]``.
    """
    mag = np.abs(poles)
    lo, hi = float(mag[mag > 0].min(initial=1.0)), float(mag.max(initial=1.0))
    w = np.concatenate(
        ([0.0, 1e6 * hi], np.geomspace(lo / 100, hi * 100, 400), mag, np.abs(poles.imag))
    )
    x = np.stack([_solve(p, s) for s in 1j * w])
    x = np.where(np.isfinite(x), np.abs(x), 0.0)  # a pole on the axis: infinite there
    return x.max(axis=0)


def _solve(p: Pencil, s: complex) -> np.ndarray:
    """All unknowns at s for V(in) = 1 (NaN where G + sC is singular)."""
    try:
        with np.errstate(all="ignore"):
            return np.linalg.solve(p.g + s * p.c, -(p.g_in + s * p.c_in))
    except np.linalg.LinAlgError:
        return np.full(p.g.shape[0], np.nan, dtype=complex)


def transient_deck(
    text: str,
    plan: Plan,
    out_node: str = "out",
    closed_sign: int | None = None,
    amplitude: float = AMPLITUDE,
) -> str:
    """The ngspice transient deck of a deck's step response (module doc).

    Args:
        text: a deck with one AC source on the input net (ours or a plain deck).
        plan: window, step and rise time (``plan_for``).
        out_node: the output net.
        closed_sign: k for the unity-gain loop V(in) = u − k·V(out); None: open loop.
        amplitude: the step (V).

    Raises:
        NetlistError: from ``deck.prepare_deck`` (no or two AC sources, unknown output…).
    """
    prepared = prepare_deck(text, out_node)
    step = f"PWL(0 0 {_num(plan.rise)} {_num(amplitude)})"
    lines = []
    for line in prepared.text.splitlines():
        words = line.split()
        if words and words[0][0] in "Vv" and "ac" in (w.lower() for w in words[3:]):
            if closed_sign is None:
                lines.append(f"{words[0]} {prepared.in_node} 0 {step}")
            else:  # V(in) − V(u) = −k·V(out)
                lines.append(f"{words[0]} {U_NET} 0 {step}")
                lines.append(
                    f"E_cktgen_loop {prepared.in_node} {U_NET} {prepared.out_node} 0 "
                    f"{-float(closed_sign):g}"
                )
        elif line.strip() == AC_CARD:
            lines += _tran_cards(plan, amplitude)
        else:
            lines.append(line)
    return "\n".join(lines)


def _tran_cards(plan: Plan, amplitude: float) -> list[str]:
    # ngspice's defaults assume volt-level signals: vntol 1 µV, abstol 1 pA, chgtol 1e-14 C;
    # scaled by the step so that a 1 µV input is integrated as accurately as a 1 V one
    return [
        f".options method=trap reltol={plan.reltol:g} vntol={_num(1e-6 * amplitude)} "
        f"abstol={_num(1e-12 * amplitude)} chgtol={_num(1e-14 * amplitude)}",
        ".save " + " ".join(f"v({net})" for net, _ in plan.bounds),
        f".tran {_num(plan.t_max)} {_num(plan.t_stop)} 0 {_num(plan.t_max)} uic",
    ]


def _num(x: float) -> str:
    return f"{x:.6e}"


def run_decks(
    decks: Sequence[str],
    out_node: str = "out",
    workers: int | None = None,
    timeout_s: float = 60.0,
    program: str | None = None,
) -> list[Waveform]:
    """Run transient decks with the ``ngspice`` program, ``workers`` (default: one per
    core) at a time.

    Each run is ``ngspice -n -b -r out.raw deck.cir`` in its own temporary folder as working
    directory, with HOME set to it and a minimal environment, so no ``.spiceinit`` (``-n``
    skips it anyway) or user setting changes the run; a run past ``timeout_s`` is killed.

    Raises:
        SimulationError: when the ``ngspice`` program is not found.
    """
    program = program or shutil.which("ngspice")
    if program is None:
        raise SimulationError("the ngspice program is not installed (Debian: apt install ngspice)")

    def one(deck: str) -> Waveform:
        return run_deck(deck, out_node, timeout_s, program)

    with ThreadPoolExecutor(
        max(1, workers or os.cpu_count() or 1)
    ) as pool:  # threads wait; ngspice processes work
        return list(pool.map(one, decks))


def run_deck(deck: str, out_node: str, timeout_s: float, program: str) -> Waveform:
    """One ngspice batch run (see ``run_decks``)."""
    with tempfile.TemporaryDirectory(prefix="cktgen-tran-") as tmp:
        path = Path(tmp)
        (path / "deck.cir").write_text(deck)
        env = {"PATH": _CLEAN_PATH, "HOME": tmp, "LC_ALL": "C", "TMPDIR": tmp}
        try:
            done = subprocess.run(
                [program, "-n", "-b", "-r", "out.raw", "deck.cir"],
                cwd=tmp,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return Waveform.failed(f"ngspice ran past {timeout_s:g} s")
        raw = path / "out.raw"
        if not raw.exists():
            return Waveform.failed(_tail(done))
        try:
            names, data = read_raw(raw.read_bytes())
        except ValueError as exc:
            return Waveform.failed(f"{exc}; {_tail(done)}")
    key = f"v({out_node.lower()})"
    if "time" not in names or key not in names or data.shape[0] < 2:
        return Waveform.failed(f"no {key} in the raw file; {_tail(done)}")
    # an unstable run can end in "Timestep too small" once the response is ~1e8 V: the
    # points before it still show the growth (a stable response stays below B throughout)
    aborted = _tail(done) if done.returncode != 0 or b"aborted" in (done.stderr or b"") else None
    nets = {n[2:-1]: data[:, k] for k, n in enumerate(names) if n.startswith("v(")}
    time, out = data[:, names.index("time")], data[:, names.index(key)]
    return Waveform(time, out, nets, None, aborted)


def _tail(done: subprocess.CompletedProcess) -> str:
    """ngspice's exit status and first error lines (its errors go to stderr)."""
    text = [t.strip() for t in (done.stderr or b"").decode(errors="replace").splitlines()]
    text = [t for t in text if t]
    keys = ("error", "doanalyses", "timestep too small")
    errors = [t for t in text if any(k in t.lower() for k in keys)] or text[-3:]
    return f"ngspice exit {done.returncode}: " + " | ".join(errors[:3])


def read_raw(blob: bytes) -> tuple[list[str], np.ndarray]:
    """Variable names (lower case) and ``[points, variables]`` data of a real binary raw file.

    Raises:
        ValueError: for a file that is not a real binary raw file.
    """
    head, sep, body = blob.partition(b"Binary:\n")
    if not sep:
        raise ValueError("raw file without binary data")
    lines = head.decode(errors="replace").splitlines()
    fields = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines)}
    if "complex" in fields.get("flags", ""):
        raise ValueError("complex raw file (not a transient)")
    n_vars = int(fields["no. variables"])
    start = next(i for i, ln in enumerate(lines) if ln.lower().startswith("variables:"))
    names = [ln.split()[1].lower() for ln in lines[start + 1 : start + 1 + n_vars]]
    values = np.frombuffer(body[: len(body) // 8 * 8], dtype="<f8")
    points = values.size // n_vars  # ngspice leaves "No. Points: 0" when a run aborts
    return names, values[: points * n_vars].reshape(points, n_vars)


def growth(wave: Waveform, plan: Plan) -> tuple[float, str]:
    """The largest late peak / B over the watched nets, and that net (module doc).

    The response *grows* when the ratio exceeds 1.
    """
    out_net, out_bound = plan.bounds[0]
    ratios = [(late_peak(wave, plan) / out_bound, out_net)]  # the output is always there
    for net, bound in plan.bounds[1:]:
        if net in wave.nets:
            ratios.append((late_peak(wave, plan, wave.nets[net]) / bound, net))
    return max(ratios)


def late_peak(wave: Waveform, plan: Plan, y: np.ndarray | None = None) -> float:
    """max |y| (default V(out)) over the last quarter of the run (inf if not finite).

    The last quarter of the points that exist: a run that ngspice aborted is judged on what
    it produced (the bound holds at every instant of a stable response).
    """
    y = wave.out if y is None else y
    y = y[wave.time >= LATE * min(plan.t_stop, float(wave.time[-1]))]
    return float(np.abs(y).max()) if np.all(np.isfinite(y)) else math.inf


def settling_time(wave: Waveform, final: float, plan: Plan, tol: float = 0.01) -> float | None:
    """Last time |V(out) − final| leaves the band tol·|final| (s, from the step's midpoint).

    Linear interpolation between ngspice's time points; None when the response is still
    outside the band at the end of the window. The ramp input lags an ideal step by
    rise/2, which is subtracted.
    """
    band = tol * abs(final)
    err = np.abs(wave.out - final)
    above = np.flatnonzero(err > band)
    if above.size == 0:
        return 0.0
    k = int(above[-1])
    if k + 1 >= wave.time.size:
        return None
    # on [t_k, t_k+1] y is linear; the exit is where |y − final| = band
    y0, y1 = wave.out[k] - final, wave.out[k + 1] - final
    target = math.copysign(band, y0)
    frac = (y0 - target) / (y0 - y1) if y0 != y1 else 0.0
    t = wave.time[k] + min(max(frac, 0.0), 1.0) * (wave.time[k + 1] - wave.time[k])
    return max(float(t) - plan.rise / 2, 0.0)


def check_decks(
    texts: Sequence[str],
    closed: bool = False,
    out_node: str = "out",
    workers: int | None = None,
    timeout_s: float = 60.0,
    stabilities: Sequence[Stability] | None = None,
    pencils: Sequence[Pencil] | None = None,
) -> list[Check]:
    """Pole verdicts and ngspice transients of many decks, side by side (module doc).

    ``stabilities`` and ``pencils`` may be passed when already computed (same order).
    """
    if pencils is None:
        pencils = [_pencil(t, out_node) for t in texts]
    if stabilities is None:
        ok = [i for i, p in enumerate(pencils) if p is not None]
        found = analyse_many([pencils[i] for i in ok], settling=False)
        stabilities = [None] * len(texts)
        for i, st in zip(ok, found):
            stabilities[i] = st
    jobs, checks = [], [None] * len(texts)
    for i, (text, p, st) in enumerate(zip(texts, pencils, stabilities)):
        if p is None or st is None:
            checks[i] = Check(None, None, None, None, None, "no pencil (mna could not read it)")
            continue
        verdict = st.cl_stable if closed else st.stable
        plan = plan_for(p, st, closed)
        if plan is None:
            reason = st.reason or "no transient: no poles but at s = 0"
            checks[i] = Check(verdict, None, None, None, None, reason)
            continue
        if plan.marginal:  # no finite window decides it (module doc): not run
            checks[i] = Check(verdict, None, None, plan, None, "marginal: a pole on the axis")
            continue
        sign = st.sign if closed else None
        jobs.append((i, verdict, plan, transient_deck(text, plan, out_node, sign)))
    waves = run_decks([j[3] for j in jobs], out_node, workers, timeout_s)
    for (i, verdict, plan, _), wave in zip(jobs, waves):
        if wave.error is not None:
            checks[i] = Check(verdict, None, None, plan, wave, wave.error)
        else:
            ratio, net = growth(wave, plan)
            peak = late_peak(wave, plan)
            checks[i] = Check(verdict, ratio > 1, peak, plan, wave, None, ratio, net)
    return checks  # type: ignore[return-value]


def _pencil(text: str, out_node: str) -> Pencil | None:
    try:
        prepared = prepare_deck(text, out_node)
        return pencil_from_deck(prepared.text, prepared.in_node, prepared.out_node)
    except NetlistError:
        return None
