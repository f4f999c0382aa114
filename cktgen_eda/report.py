"""Rendering of results: plain-text tables and engineering units (the last step of the flow)."""

from __future__ import annotations

from collections.abc import Sequence

from .netlist.units import SI_PREFIXES


def si(value: float | None, unit: str, digits: int = 3) -> str:
    """``2.1e9, "Hz"`` → ``"2.1 GHz"``; None → ``"-"``."""
    if value is None:
        return "-"
    if value == 0:
        return f"0 {unit}"
    for exp, prefix in sorted(SI_PREFIXES.items(), reverse=True):  # tera down to femto
        scale = float(f"1e{exp}")
        if abs(value) >= scale:
            return f"{value / scale:.{digits}g} {'µ' if exp == -6 else prefix}{unit}"
    return f"{value:.{digits}g} {unit}"


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


def _measured(m) -> list[str]:
    """gain, UGF, benchmark PM, loop PM, FoM, stability cells of a ``Measurement``."""
    return [
        "-" if m.gain_db is None else f"{m.gain_db:.1f} dB",
        si(m.ugf_hz, "Hz"),
        "-" if m.pm_deg is None else f"{m.pm_deg:.1f}°",
        "-" if m.pm_loop_deg is None else f"{m.pm_loop_deg:.1f}°",
        num(m.fom, ".2f"),
        stability_text(m),
    ]


MEASURED_HEADERS = ["gain", "UGF", "PM", "loop PM", "FoM", "stability"]


def measurement_table(measurements: Sequence, with_spec: bool) -> str:
    """Table of ``Measurement`` objects: gain, UGF, PM (benchmark and loop), FoM, class,
    stability, validity (and the spec verdict with its reasons)."""
    headers = ["file", *MEASURED_HEADERS, "class", "status"]
    if with_spec:
        headers.append("spec")
    rows = []
    for m in measurements:
        status = "ok" if m.valid else f"invalid: {m.reason}"
        row = [
            m.file or "-",
            *_measured(m),
            "-" if m.spec_class is None else ",".join(map(str, m.spec_class)),
            status,
        ]
        if with_spec:
            row.append(verdict_text(m))
        rows.append(row)
    return table(headers, rows)


def generation_table(result) -> str:
    """Table of a ``GenerationResult``: class, status, measured gain/UGF/PM, FoM, spec."""
    from .spec import class_region

    verified = result.verified
    headers = ["#", "class", "target gain / UGF / PM", "status"]
    if verified:
        headers += [*MEASURED_HEADERS, "spec"]
    rows = []
    for c in result.candidates:
        r = class_region(c.spec_class)
        g, u, p = r["gain_db"], r["ugf_hz"], r["pm_deg"]
        target = (
            f"{g.lo:.0f}…{g.hi:.0f} dB / {si(u.lo, 'Hz', 2)}…{si(u.hi, 'Hz', 2)} / "
            f"{p.lo:.0f}…{p.hi:.0f}°"
        )
        status = "valid" if c.valid else f"invalid: {c.error}"
        row = [str(c.index), ",".join(map(str, c.spec_class)), target, status]
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
        f"{len(result.candidates)} candidates from model {result.model} over "
        f"{len(result.classes)} classes, {n_valid} valid",
    ]
    if verified:
        meets = sum(bool(c.meets) for c in result.candidates)
        works = sum(c.measurement is not None and c.measurement.works for c in result.candidates)
        if result.spec is None:  # class mode: in the requested class, by ngspice
            meets = sum(
                c.measurement is not None and c.measurement.spec_class == tuple(c.spec_class)
                for c in result.candidates
            )
            lines[-1] += f", {works} stable amplifiers, {meets} in their class (ngspice)"
        else:
            lines[-1] += f", {works} stable amplifiers, {meets} meet the spec (ngspice)"
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
    """Table of a ``DesignResult``: the best designs with measured gain/UGF/PM/FoM."""
    rows = []
    for k, d in enumerate(result.designs):
        m = d.measurement
        rows.append(
            [
                str(k),
                ",".join(map(str, d.spec_class)),
                *_measured(m),
                si(m.settling_s, "s"),
                si(d.total_gm, "S"),
                str(d.sample),
            ]
        )
    head = table(["#", "arm", *MEASURED_HEADERS, "settling", "Σ|gm|", "found at"], rows)
    used = sum(1 for p in result.pulls if p)
    info = result.info or {}
    how = "stable both ways; " if result.spec.require_stable else ""
    how += "exact engine, designs shown confirmed by ngspice" if info else "ngspice"
    refined = f", {info['refined']} more sized into it" if info.get("refined") else ""
    tail = (
        f"{result.samples} samples over {used} of {len(result.arms)} arms ({result.strategy}), "
        f"{result.feasible} met {result.spec}{refined} ({how}); best by "
        f"{info.get('objective', 'fom')}, {result.seconds:.1f} s"
    )
    if not result.designs:
        tail = "no candidate met the spec; " + tail
    return head + "\n\n" + tail
