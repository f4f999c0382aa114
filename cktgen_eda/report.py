"""Rendering of results: plain-text tables, engineering units and the JSON envelope (the
last step of the flow).

Every command that prints results as JSON (``verify``, ``generate``, ``design``) wraps them in
one ``envelope``: ``{"spec", "engine", "results": [{"file", "measurement", "circuit", …}], …}``
(docs/simulation.md, "Output envelope"). Numbers in it are SI base units (Hz, s, S) or dB and
degrees, as the key names say; a value that is not finite is ``null``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .netlist.units import SI_PREFIXES


def si(value: float | None, unit: str, digits: int = 3) -> str:
    """``2.1e9, "Hz"`` → ``"2.1 GHz"``; None → ``"-"``. Rounds before it picks the prefix,
    so 999.99 MHz reads ``"1 GHz"``, not ``"1e+03 MHz"``."""
    if value is None:
        return "-"
    if value == 0 or not math.isfinite(value):
        return f"{value:g} {unit}"
    value = float(f"{value:.{digits}g}")
    for exp, prefix in sorted(SI_PREFIXES.items(), reverse=True):  # tera down to femto
        scale = float(f"1e{exp}")
        if abs(value) >= scale:
            return f"{value / scale:.{digits}g} {'µ' if exp == -6 else prefix}{unit}"
    return f"{value:.{digits}g} {unit}"


def si_range(lo: float, hi: float, unit: str) -> str:
    """``3e9, 4e9, "Hz"`` → ``"3…4 GHz"``; ``0, 1e9`` → ``"0 Hz…1 GHz"`` (one unit when the
    two ends share it)."""
    a, b = si(lo, unit), si(hi, unit)
    a_num, _, a_unit = a.partition(" ")
    b_num, _, b_unit = b.partition(" ")
    return f"{a_num}…{b}" if a_unit == b_unit else f"{a}…{b}"


def class_bins(cls: Sequence[int]) -> tuple[str, str, str]:
    """The physical bins of a benchmark class ``(gain, bw, pm)`` as text: ``("80.5…180.5 dB",
    "3…4 GHz", "0…90°")`` for ``(2, 3, 1)`` (docs/spec.md). The fixed offsets of the
    normalisation (1e-5 of a bin) are rounded away, and UGF starts at 0 Hz."""
    from .spec import class_region

    r = class_region(tuple(int(x) for x in cls))
    g, u, p = r["gain_db"], r["ugf_hz"], r["pm_deg"]
    return (
        f"{g.lo:.1f}…{g.hi:.1f} dB",
        si_range(max(u.lo, 0.0), u.hi, "Hz"),
        f"{round(p.lo)}…{round(p.hi)}°",
    )


def class_text(cls: Sequence[int]) -> str:
    """``(2, 3, 1)`` → ``"gain 80.5…180.5 dB, UGF 3…4 GHz, PM 0…90°"``."""
    g, u, p = class_bins(cls)
    return f"gain {g}, UGF {u}, PM {p}"


def num(value: float | None, fmt: str = ".1f") -> str:
    return "-" if value is None else format(value, fmt)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A left-aligned text table with a rule under the header."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def stability_text(m) -> str:
    """Short stability verdict of a ``Measurement``: ``stable``, ``UNSTABLE``, …"""
    if m.stable is None:
        return "unknown" if m.stability_reason else "-"
    if not m.stable:
        return "UNSTABLE"
    if m.cl_stable is False:
        return "UNSTABLE at unity gain"
    if m.cl_stable is None:
        return "stable open loop only"
    return "stable"


def verdict_text(m) -> str:
    """``PASS``, ``FAIL: <first reason> (+N)`` or ``-`` (no spec) for a ``Measurement``
    (every reason is in its JSON ``fails``)."""
    if m.meets_spec is None:
        return "-"
    if m.meets_spec:
        return "PASS"
    if not m.fails:
        return "FAIL"
    more = f" (+{len(m.fails) - 1})" if len(m.fails) > 1 else ""
    return f"FAIL: {m.fails[0]}{more}"


def class_cell(cls: Sequence[int] | None) -> str:
    """``(2, 3, 1)`` → ``"2,3,1"``; None → ``"-"``."""
    return "-" if cls is None else ",".join(map(str, cls))


def _measured(m) -> list[str]:
    """gain, UGF, benchmark PM, loop PM, FoM, measured class, stability cells of a
    ``Measurement``."""
    return [
        "-" if m.gain_db is None else f"{m.gain_db:.1f} dB",
        si(m.ugf_hz, "Hz"),
        "-" if m.pm_deg is None else f"{m.pm_deg:.1f}°",
        "-" if m.pm_loop_deg is None else f"{m.pm_loop_deg:.1f}°",
        num(m.fom, ".2f"),
        class_cell(m.spec_class),
        stability_text(m),
    ]


# "class" is the measured benchmark class; generate and design also show the target class
MEASURED_HEADERS = ["gain", "UGF", "PM", "loop PM", "FoM", "class", "stability"]


def measurement_table(measurements: Sequence, with_spec: bool) -> str:
    """Table of ``Measurement`` objects: gain, UGF, PM (benchmark and loop), FoM, class,
    stability, validity (and the spec verdict with its reasons)."""
    headers = ["file", *MEASURED_HEADERS, "status"]
    if with_spec:
        headers.append("spec")
    rows = []
    for m in measurements:
        status = "ok" if m.valid else f"invalid: {m.reason}"
        row = [m.file or "-", *_measured(m), status]
        if with_spec:
            row.append(verdict_text(m))
        rows.append(row)
    return table(headers, rows)


def generation_table(result) -> str:
    """Table of a ``GenerationResult``: the target class and its bins, status, and when
    verified the measured gain/UGF/PM, FoM, measured class, stability and spec verdict."""
    verified = result.verified
    headers = ["#", "target class", "target gain / UGF / PM", "status"]
    if verified:
        headers += [*MEASURED_HEADERS, "spec"]
    rows = []
    for c in result.candidates:
        target = " / ".join(class_bins(c.spec_class))
        status = "valid" if c.valid else f"invalid: {c.error}"
        row = [str(c.index), class_cell(c.spec_class), target, status]
        if verified:
            m = c.measurement
            if m is None:
                row += ["-"] * (len(MEASURED_HEADERS) + 1)
            else:
                if c.valid and not m.valid:
                    row[3] = f"not measurable: {m.reason}"
                row += [*_measured(m), verdict_text(m)]
        rows.append(row)
    n_valid = sum(c.valid for c in result.candidates)
    lines = [
        table(headers, rows),
        "",
        f"{len(result.candidates)} candidates from model {result.model}"
        + _at_temperature(result.info.get("temperature", 1.0))
        + f" over {len(result.classes)} classes, {n_valid} valid",
    ]
    if verified:
        engine = result.info.get("engine") or "ngspice"
        meets = sum(bool(c.meets) for c in result.candidates)
        works = sum(c.measurement is not None and c.measurement.works for c in result.candidates)
        if result.spec is None:  # class mode: in the requested class, by ngspice
            meets = sum(
                c.measurement is not None and c.measurement.spec_class == tuple(c.spec_class)
                for c in result.candidates
            )
            lines[-1] += f", {works} stable amplifiers, {meets} in their class ({engine})"
        else:
            lines[-1] += f", {works} stable amplifiers, {meets} meet the spec ({engine})"
    lines[-1] += f" ({result.seconds:.1f} s)"
    refine = result.info.get("refine")
    if refine:
        what = (
            "the spec"
            if result.spec is not None
            else "their class target (stable where the class holds a working amplifier)"
        )
        lines.append(
            f"refine ({refine['objective']}): {refine['met_before']} of {refine['sized']} "
            f"sized topologies met {what} before sizing, {refine['met_after']} after (exact "
            f"engine, {refine['seconds']:.1f} s)"
            + (f"; kept the best {refine['kept']}" if refine.get("kept") else "")
        )
    return "\n".join(lines)


def design_table(result) -> str:
    """Table of a ``DesignResult``: the best designs with the arm's class they were generated
    for and the measured gain/UGF/PM/FoM/class."""
    rows = []
    for k, d in enumerate(result.designs):
        m = d.measurement
        rows.append(
            [
                str(k),
                class_cell(d.spec_class),
                *_measured(m),
                si(m.settling_s, "s"),
                si(d.total_gm, "S"),
                str(d.sample),
            ]
        )
    headers = ["#", "target class", *MEASURED_HEADERS, "settling", "Σ|gm|", "found at"]
    head = table(headers, rows)
    used = sum(1 for p in result.pulls if p)
    info = result.info or {}
    how = "stable both ways; " if result.spec.require_stable else ""
    engine = info.get("engine") or "ngspice"
    how += f"exact engine, designs shown confirmed by {engine}" if info else engine
    refined = f", {info['refined']} more sized into it" if info.get("refined") else ""
    tail = (
        f"{result.samples} samples over {used} of {len(result.arms)} arms ({result.strategy}), "
        f"{result.feasible} met {result.spec}{refined} ({how}); best by "
        f"{info.get('objective', 'fom')}, {result.seconds:.1f} s"
    )
    if not result.designs:
        tail = "no candidate met the spec; " + tail
    return head + "\n\n" + tail


# ------------------------------------------------------------------ the JSON envelope
ENVELOPE_KEYS = ("spec", "engine", "results")
RESULT_KEYS = ("file", "measurement", "circuit")


def result_entry(
    measurement: Any = None, circuit: Any = None, file: Any = None, **extras: Any
) -> dict[str, Any]:
    """One item of an envelope's ``results``: ``file`` (a path written or read, else None),
    the ``Measurement`` and ``Circuit`` as dicts (None when absent) and the command's extras.
    The measurement's own ``file`` is the same value: an in-memory circuit's label
    (``"circuit 8"``) is no file."""
    file = None if file is None else str(file)
    m = None
    if measurement is not None:
        m = measurement.to_dict()
        m["file"] = file
    c = None if circuit is None else circuit.to_dict()
    return {"file": file, "measurement": m, "circuit": c, **extras}


def _at_temperature(t: float) -> str:
    """`` (decode temperature T)`` when the decoder did not sample at 1, else nothing."""
    return "" if t == 1.0 else f" (decode temperature {t:g})"


def envelope(spec: Any, engine: str | None, results: list[dict], **extras: Any) -> dict:
    """The one JSON layout of ``verify``, ``generate`` and ``design``: ``spec`` (its text, or
    None), ``engine`` (the simulator whose numbers the measurements are, or None when
    nothing was simulated), ``results`` (``result_entry`` dicts) and the command's extras.
    Non-finite numbers become None, so the text is strict JSON."""
    text = None if spec is None else spec.to_text()
    return _finite({"spec": text, "engine": engine, "results": results, **extras})


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinity (at any depth) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
