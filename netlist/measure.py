"""Op-amp measurements on an AC sweep: gain, UGF, phase margin, FoM (docs/benchmark.md §4.3–4.5).

circuit → netlist → ngspice → **measure** → report. Plain numpy on the complex transfer
function H(f) = V(out)/V(in); no simulator is needed, so any sweep (ngspice, a nodal solver,
an analytic formula) is measured the same way. The conventions are the Cadence calculator's,
as the benchmark's Ocean scripts used them:

- gain: 20·log10|H| at the first sweep point (1 Hz).
- UGF: the **first** crossing of 20·log10|H| through 0 dB, **in either direction**, located by
  linear interpolation of the dB values in linear frequency between the bracketing points.
- PM: between the same two points, t from linear interpolation of |H| to 1; H interpolated
  linearly as a complex number at t; PM = 180° + angle(H), wrapped into (−180°, 180°].
- loop PM (``loop_margin``): the same interpolation at **every** 0 dB crossing of the
  unity-gain negative-feedback loop L = k·H, k = sgn H(0) from the exact DC solution; the
  smallest 180° + ∠L, wrapped. The product judges a spec's ``pm`` on it, together with the
  pole-based verdicts of ``stability.py`` (docs/simulation.md, "Stability").

A sample that sits exactly on 0 dB is a crossing at that sample. When no crossing exists, or
the sweep is not finite, the measurement is invalid: ``valid`` is False, ``reason`` says why,
UGF, PM, FoM and classes are None, and ``gain_db`` is still reported when it is finite (it is
measurable, and the reason text quotes it).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from ..report import si
from ..spec import Spec, normalise, raw_fom, spec_class


@dataclass(frozen=True)
class Measurement:
    """One circuit's measured performance (docs/simulation.md JSON, via ``to_dict``).

    Attributes:
        file: where the circuit came from: a path, or a label such as ``"circuit 3"`` for
            one that exists only in memory. The JSON envelope of the CLI
            (``report.result_entry``) writes the real file or null instead of a label.
        gain_db: gain at 1 Hz in dB (reported when finite, even for an invalid run).
        ugf_hz: unity-gain frequency in Hz, or None when there is no 0 dB crossing.
        pm_deg: phase margin in degrees, in (−180, 180], or None.
        fom: the benchmark's raw figure of merit, or None when invalid.
        valid: True when gain, UGF and PM could all be measured.
        reason: why the run is invalid (None when valid).
        spec_class: benchmark class ``(gain, bw, pm)``, or None when invalid.
        meets_spec: whether a target spec is met; None when no spec was given.
        simulator: what produced the sweep, e.g. ``"ngspice-39"``.
        stable: every open-loop pole in the left half plane (None when unknown).
        cl_stable: likewise for the unity-gain negative-feedback loop.
        pm_loop_deg: the loop's phase margin (smallest over its 0 dB crossings), or None.
        inverting: True when the exact DC gain H(0) is negative.
        poles: dominant open-loop poles (rad/s), largest real part first.
        cl_poles: dominant poles of the unity-gain loop, likewise.
        settling_s: 1 % settling time of the unity-gain step response (cl_stable only).
        stability_reason: why the stability verdicts are unknown.
        fails: why ``meets_spec`` is False (one short phrase per failed condition).
    """

    file: str | None
    gain_db: float | None
    ugf_hz: float | None
    pm_deg: float | None
    fom: float | None
    valid: bool
    reason: str | None
    spec_class: tuple[int, int, int] | None
    meets_spec: bool | None
    simulator: str
    stable: bool | None = None
    cl_stable: bool | None = None
    pm_loop_deg: float | None = None
    inverting: bool | None = None
    poles: tuple[complex, ...] = ()
    cl_poles: tuple[complex, ...] = ()
    settling_s: float | None = None
    stability_reason: str | None = None
    fails: tuple[str, ...] = ()

    @classmethod
    def of(cls, values: tuple) -> Measurement:
        """A measurement from all its field values, in field order: what the constructor
        makes, without its per-field checks (bulk verification builds tens of thousands)."""
        m = object.__new__(cls)
        m.__dict__.update(zip(_FIELDS, values))
        return m

    @classmethod
    def invalid(
        cls, reason: str, simulator: str, gain_db: float | None = None, file: str | None = None
    ) -> Measurement:
        """An invalid measurement carrying ``reason`` (e.g. a failed simulation)."""
        return cls(file, gain_db, None, None, None, False, reason, None, None, simulator)

    def normalised(self) -> dict[str, float] | None:
        """CSV-style normalised ``gain``, ``bw``, ``pm``, ``fom``; None when invalid."""
        if not self.valid:
            return None
        return normalise(self.gain_db, self.ugf_hz, self.pm_deg)

    def to_dict(self) -> dict[str, Any]:
        """The docs/simulation.md JSON object plus ``normalised`` (null when invalid)."""
        return {
            "file": self.file,
            "gain_db": self.gain_db,
            "ugf_hz": self.ugf_hz,
            "pm_deg": self.pm_deg,
            "fom": self.fom,
            "valid": self.valid,
            "reason": self.reason,
            "spec_class": list(self.spec_class) if self.spec_class is not None else None,
            "meets_spec": self.meets_spec,
            "fails": list(self.fails),
            "stable": self.stable,
            "cl_stable": self.cl_stable,
            "pm_loop_deg": self.pm_loop_deg,
            "inverting": self.inverting,
            "poles": [[p.real, p.imag] for p in self.poles],
            "cl_poles": [[p.real, p.imag] for p in self.cl_poles],
            "settling_s": self.settling_s,
            "stability_reason": self.stability_reason,
            "simulator": self.simulator,
            "normalised": self.normalised(),
        }

    @property
    def works(self) -> bool:
        """A working amplifier: stable open loop and at unity gain, gain above 0 dB."""
        return bool(self.stable and self.cl_stable and (self.gain_db or 0.0) > 0.0)

    def check(self, spec: Spec) -> list[str]:
        """Why this circuit does not meet ``spec`` (empty when it does).

        Unless ``spec.require_stable`` is False (``stable=any``, the benchmark's raw
        convention), a pass also needs both stability verdicts and a gain above 0 dB, and
        ``pm`` is judged on the loop margin ``pm_loop_deg``; otherwise on ``pm_deg``.
        """
        if not self.valid:
            return [f"not measurable: {self.reason}"]
        out = []
        if spec.require_stable:
            for ok, poles, what in (
                (self.stable, self.poles, "unstable"),
                (self.cl_stable, self.cl_poles, "unstable at unity gain"),
            ):
                if ok is None:
                    out.append(f"stability unknown: {self.stability_reason or 'not analysed'}")
                    break
                if not ok:
                    out.append(f"{what}: pole at {pole_text(poles[0])}" if poles else what)
            if self.gain_db <= 0.0:
                out.append(f"gain {self.gain_db:.1f} dB below 0 dB")
        pm = self.pm_loop_deg if spec.require_stable else self.pm_deg
        for label, value, iv, text in (
            ("gain", self.gain_db, spec.gain_db, lambda x: f"{x:.4g} dB"),
            ("ugf", self.ugf_hz, spec.ugf_hz, lambda x: _hz(x)),
            ("pm", pm, spec.pm_deg, lambda x: f"{x:.1f}°"),
        ):
            if value is None:
                if iv.lo is not None or iv.hi is not None:
                    out.append(f"{label} not measurable (no 0 dB crossing of the loop)")
            elif not iv.contains(value):
                if iv.lo is not None and (value < iv.lo or (iv.lo_open and value == iv.lo)):
                    out.append(f"{label} {text(value)} < {text(iv.lo)}")
                else:
                    out.append(f"{label} {text(value)} > {text(iv.hi)}")
        return out

    def with_spec(self, spec: Spec | None) -> Measurement:
        """A copy whose ``meets_spec`` and ``fails`` check ``spec`` (None without a spec)."""
        if spec is None:
            return self._with(meets_spec=None, fails=())
        fails = tuple(self.check(spec))
        return self._with(meets_spec=not fails, fails=fails)

    def with_stability(self, st) -> Measurement:
        """A copy carrying the verdicts of a ``stability.Stability`` (the loop margin, read
        off the sweep with the same sign, is kept; dropped when stability is unknown)."""
        return self._with(
            stable=st.stable,
            cl_stable=st.cl_stable,
            pm_loop_deg=self.pm_loop_deg if st.reason is None else None,
            inverting=None if st.stable is None else st.sign < 0,
            poles=tuple(st.dominant()),
            cl_poles=tuple(st.dominant(closed=True)),
            settling_s=st.settling_s,
            stability_reason=st.reason,
        )

    def with_file(self, name: str | None) -> Measurement:
        """A copy with ``file`` set to ``name``."""
        return self._with(file=name)

    def _with(self, **changes: Any) -> Measurement:
        """A copy with ``changes`` (``dataclasses.replace`` without its per-call checks,
        which cost more than the rest of a circuit's bookkeeping in bulk verification)."""
        out = copy.copy(self)
        for key, value in changes.items():
            object.__setattr__(out, key, value)
        return out


_FIELDS = tuple(f.name for f in fields(Measurement))


def pole_text(p: complex) -> str:
    """``+1.1e+09 ± j2e+09 rad/s``-style text of a pole (rad/s)."""
    re_part = f"{p.real:+.3g}"
    return f"{re_part} rad/s" if p.imag == 0 else f"{re_part} ± j{abs(p.imag):.3g} rad/s"


def wrap_deg(x: float) -> float:
    """Wrap an angle in degrees into (−180, 180]."""
    return -((180.0 - x) % 360.0 - 180.0)


def _hz(f: float) -> str:
    """Frequency text for messages: ``1 Hz``, ``100 GHz``."""
    return si(float(f), "Hz", digits=4)


def first_unity_crossing(mag: np.ndarray) -> tuple[int, float] | None:
    """The first crossing of |H| through 1 (0 dB), in either direction.

    Args:
        mag: |H| at the sweep points (finite, ≥ 0).

    Returns:
        ``(k, t)``: the crossing lies between samples k and k+1 at fraction t ∈ [0, 1] of the
        way, from linear interpolation of the **dB** values; None when |H| never crosses 1.
        A sample exactly at 0 dB is a crossing there (t = 0 at k = 0, else t = 1 at k − 1).
    """
    if mag.size == 0:
        return None
    if mag[0] == 1.0:
        return 0, 0.0
    side = np.sign(mag - 1.0)  # sign of the dB value, without taking 1,101 logarithms
    hits = np.flatnonzero(side[1:] != side[:-1])
    if hits.size == 0:
        return None
    k = int(hits[0])
    if mag[k] == 0.0:  # −inf dB at sample k: the dB line is vertical there
        return k, 1.0
    if mag[k + 1] == 0.0:
        return k, 0.0
    a, b = 20.0 * math.log10(mag[k]), 20.0 * math.log10(mag[k + 1])
    return k, a / (a - b)


def loop_margin(h: np.ndarray, sign: int) -> float | None:
    """Phase margin of the loop L = sign·H: the smallest 180° + ∠L over every 0 dB crossing.

    Each crossing is interpolated as in ``measure_opamp`` (t from |H| linear between the
    bracketing samples, H complex-linear at t). None when |H| never crosses 1.

    Shapes:
        h: ``[F]`` complex.
    """
    mag = np.abs(h)
    if mag.size < 2 or not math.isfinite(float(mag.sum())):
        return None
    above = mag > 1.0  # a sample exactly at 0 dB joins the side below: t lands on it
    ks = np.flatnonzero(above[1:] != above[:-1])
    if ks.size == 0:
        return None
    m0, m1, h0, h1 = mag[ks], mag[ks + 1], h[ks], h[ks + 1]
    t = (1.0 - m0) / (m1 - m0)  # m0 ≠ m1 at a change of side
    hc = sign * (h0 + t * (h1 - h0))
    pm = 180.0 + np.degrees(np.arctan2(hc.imag, hc.real))
    pm = -((180.0 - pm) % 360.0 - 180.0)  # wrap into (−180, 180]
    return float(pm.min())


def measure_opamp(freq_hz: np.ndarray, h: np.ndarray, simulator: str = "ngspice") -> Measurement:
    """Measure gain, UGF, PM and FoM of a transfer function (conventions in the module doc).

    Args:
        freq_hz: ascending sweep frequencies in Hz; the first is the gain point (1 Hz).
        h: complex H = V(out)/V(in) at those frequencies.
        simulator: recorded in the result, e.g. ``"ngspice-39"``.

    Returns:
        A Measurement; ``valid`` is False (with ``reason``) when a quantity cannot be measured.

    Shapes:
        freq_hz, h: ``[F]``.
    """
    freq_hz = np.asarray(freq_hz, dtype=float)
    h = np.asarray(h, dtype=complex)
    if freq_hz.ndim != 1 or freq_hz.shape != h.shape or freq_hz.size < 2:
        return Measurement.invalid(
            f"sweep needs matching 1-D frequency and H arrays of ≥ 2 points, found "
            f"{freq_hz.shape} and {h.shape}",
            simulator,
        )
    finite = np.isfinite(freq_hz) & np.isfinite(h)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        return Measurement.invalid(
            f"sweep is not finite (first at point {bad}, {freq_hz[bad]:.4g} Hz)", simulator
        )
    mag = np.abs(h)
    gain_db = 20.0 * math.log10(mag[0]) if mag[0] > 0 else -math.inf
    gain_out = gain_db if math.isfinite(gain_db) else None
    hit = first_unity_crossing(mag)
    if hit is None:
        return Measurement.invalid(
            f"no unity-gain crossing between {_hz(freq_hz[0])} and {_hz(freq_hz[-1])} "
            f"(gain at {_hz(freq_hz[0])} = {gain_db:.4g} dB)",
            simulator,
            gain_out,
        )
    if gain_out is None:
        return Measurement.invalid(f"gain at {_hz(freq_hz[0])} is {gain_db} dB", simulator)
    k, t = hit  # the crossing lies between samples k and k + 1
    ugf_hz = float(freq_hz[k] + t * (freq_hz[k + 1] - freq_hz[k]))
    if mag[k + 1] != mag[k]:
        hc = h[k] + (1.0 - mag[k]) / (mag[k + 1] - mag[k]) * (h[k + 1] - h[k])
    else:  # |H| = 1 at both samples (a crossing at the first sample of a flat 0 dB curve)
        hc = h[k]
    pm_deg = wrap_deg(180.0 + math.degrees(math.atan2(hc.imag, hc.real)))
    if not (math.isfinite(ugf_hz) and math.isfinite(pm_deg)):  # overflow in interpolation
        return Measurement.invalid(
            f"UGF/PM not finite at the crossing near {_hz(freq_hz[k])}", simulator, gain_out
        )
    return Measurement(
        file=None,
        gain_db=gain_db,
        ugf_hz=ugf_hz,
        pm_deg=pm_deg,
        fom=raw_fom(gain_db, ugf_hz, pm_deg),
        valid=True,
        reason=None,
        spec_class=spec_class(gain_db, ugf_hz, pm_deg),
        meets_spec=None,
        simulator=simulator,
    )


def measure_many(
    freq_hz: np.ndarray, h: np.ndarray, sign: np.ndarray
) -> tuple[list[tuple], list[float | None]]:
    """``measure_opamp`` and ``loop_margin`` on every row of ``h``, all rows at once: the
    same numbers (the same ``math`` functions where ``measure_opamp`` uses them).

    Returns:
        Per row, the measurement's fields ``gain_db`` … ``spec_class`` (``file`` and what
        follows ``spec_class`` left out), and ``loop_margin(h[i], sign[i])``.

    Shapes:
        freq_hz: ``[F]`` ascending and finite, F ≥ 2; h: ``[K, F]``; sign: ``[K]`` (±1).
    """
    k = len(h)
    mag = np.abs(h)
    above = mag > 1.0  # a sample exactly at 0 dB joins the side below (loop_margin)
    flips = above[:, 1:] != above[:, :-1]
    # sum overflows only where an |H| is not finite: loop_margin's test
    finite = np.isfinite(mag.sum(axis=1))
    odd = ~finite | (mag == 1.0).any(axis=1)  # NaN, ±inf or a sample exactly at 0 dB
    first = np.argmax(flips, axis=1)
    crosses = flips[np.arange(k), first] & ~odd
    fields = _measure_rows(freq_hz, h, mag, first, crosses, ~odd)
    for i in np.flatnonzero(odd):  # the rare rows: measure_opamp itself
        m = measure_opamp(freq_hz, h[i])
        fields[i] = (m.gain_db, m.ugf_hz, m.pm_deg, m.fom, m.valid, m.reason, m.spec_class)
    return fields, _loop_margins(h, mag, flips, finite, sign)


def _measure_rows(freq_hz, h, mag, first, crosses, plain) -> list:
    """``measure_opamp`` fields of the ``plain`` rows (finite, no sample exactly at 0 dB),
    vectorised; None for the others."""
    k = len(h)
    mag0 = mag[:, 0]
    gain = np.full(k, -math.inf)
    pos = mag0 > 0
    gain[pos] = 20.0 * np.array(list(map(math.log10, mag0[pos].tolist())))
    ok = plain & crosses & np.isfinite(gain)
    i = np.flatnonzero(ok)
    kk = first[i]
    m0, m1 = mag[i, kk], mag[i, kk + 1]
    t = np.where(m0 == 0.0, 1.0, 0.0)
    both = (m0 != 0.0) & (m1 != 0.0)
    a = 20.0 * np.array(list(map(math.log10, m0[both].tolist())))
    b = 20.0 * np.array(list(map(math.log10, m1[both].tolist())))
    t[both] = a / (a - b)
    ugf = freq_hz[kk] + t * (freq_hz[kk + 1] - freq_hz[kk])
    h0, h1 = h[i, kk], h[i, kk + 1]
    with np.errstate(all="ignore"):
        hc = np.where(m1 != m0, h0 + (1.0 - m0) / (m1 - m0) * (h1 - h0), h0)
    angle = map(math.atan2, hc.imag.tolist(), hc.real.tolist())
    pm = np.array(list(map(wrap_deg, (180.0 + x for x in map(math.degrees, angle)))))
    good = np.isfinite(ugf) & np.isfinite(pm)
    g, u, p = gain[i[good]], ugf[good], pm[good]
    norm = normalise(g, u, p)
    cls = zip(*(np.floor(norm[key]).astype(int).tolist() for key in ("gain", "bw", "pm")))
    out: list = [None] * k
    for j, gj, uj, pj, fj, cj in zip(
        i[good].tolist(), g.tolist(), u.tolist(), p.tolist(), raw_fom(g, u, p).tolist(), cls
    ):
        out[j] = (gj, uj, pj, fj, True, None, cj)
    gain_l = gain.tolist()
    for j in np.flatnonzero(plain & ~ok).tolist():
        gain_db = gain_l[j]
        gain_out = gain_db if math.isfinite(gain_db) else None
        if not crosses[j]:
            reason = (
                f"no unity-gain crossing between {_hz(freq_hz[0])} and {_hz(freq_hz[-1])} "
                f"(gain at {_hz(freq_hz[0])} = {gain_db:.4g} dB)"
            )
            out[j] = (gain_out, None, None, None, False, reason, None)
        else:
            out[j] = (
                None,
                None,
                None,
                None,
                False,
                f"gain at {_hz(freq_hz[0])} is {gain_db} dB",
                None,
            )
    for j in i[~good].tolist():
        reason = f"UGF/PM not finite at the crossing near {_hz(freq_hz[first[j]])}"
        out[j] = (gain_l[j], None, None, None, False, reason, None)
    return out


def _loop_margins(h, mag, flips, finite, sign) -> list[float | None]:
    """``loop_margin(h[i], sign[i])`` of every row, given |h|, its crossings of 1 (``flips``)
    and which rows have a finite sum of |h|."""
    rows, ks = np.nonzero(flips & finite[:, None])
    m0, m1, h0, h1 = mag[rows, ks], mag[rows, ks + 1], h[rows, ks], h[rows, ks + 1]
    with np.errstate(all="ignore"):
        t = (1.0 - m0) / (m1 - m0)
        hc = np.asarray(sign)[rows].astype(np.int64) * (h0 + t * (h1 - h0))
    pm = 180.0 + np.degrees(np.arctan2(hc.imag, hc.real))
    pm = -((180.0 - pm) % 360.0 - 180.0)
    best = np.full(len(h), np.inf)
    np.minimum.at(best, rows, pm)
    return [None if x == math.inf else x for x in best.tolist()]
