"""Bode plots of measured sweeps, UGF and phase margin marked (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .fileio import atomic_write


def bode_plot(
    freq_hz: np.ndarray,
    h: np.ndarray,
    measurement,
    path: str | Path,
    title: str | None = None,
    force: bool = True,
) -> Path:
    """Write ``bode_png`` to ``path`` atomically (an existing file only with ``force``)."""
    return atomic_write(path, bode_png(freq_hz, h, measurement, title), force=force)


def bode_png(freq_hz: np.ndarray, h: np.ndarray, measurement, title: str | None = None) -> bytes:
    """``bode_figure`` as PNG bytes."""
    import io

    fig = bode_figure(freq_hz, h, measurement, title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def bode_title(measurement, title: str | None = None) -> str:
    """The Bode plot's title: the name, then UGF, loop PM and the stability verdict (the
    offending pole when unstable), then gain, the benchmark PM, FoM and the spec verdict.
    Every quantity in engineering units (``UGF 31.4 GHz``, poles in ``Grad/s``)."""
    from .report import si, stability_text, verdict_text

    m = measurement
    name = title or m.file or "circuit"
    if not m.valid:
        return f"{name}\ninvalid: {m.reason}"
    loop_pm = "-" if m.pm_loop_deg is None else f"{m.pm_loop_deg:.1f}° (from −180°)"
    verdict = stability_text(m)
    if m.stable is False and m.poles:
        verdict += f": pole at {_pole(m.poles[0])}"
    elif m.cl_stable is False and m.cl_poles:
        verdict += f": pole at {_pole(m.cl_poles[0])}"
    spec = verdict_text(m)
    line3 = f"gain {m.gain_db:.1f} dB, benchmark PM {m.pm_deg:.1f}°, FoM {m.fom:.2f}"
    line3 += "" if spec == "-" else f", spec {spec}"
    return f"{name}\nUGF {si(m.ugf_hz, 'Hz')}, loop PM {loop_pm}, {verdict}\n{line3}"


def _pole(p: complex) -> str:
    """``+80.4 Mrad/s ± j744 Mrad/s``: a pole (rad/s) in engineering units."""
    from .report import si

    text = ("+" if p.real >= 0 else "−") + si(abs(p.real), "rad/s")
    return text if p.imag == 0 else f"{text} ± j{si(abs(p.imag), 'rad/s')}"


def bode_figure(freq_hz: np.ndarray, h: np.ndarray, measurement, title: str | None = None):
    """A two-panel Bode plot (a matplotlib ``Figure``) of the unity-gain loop L = sgn H(0)·H.

    Magnitude in dB and the unwrapped loop phase, which starts near 0° for an amplifier
    closed in negative feedback; the UGF gets a vertical line and the phase margin is drawn
    as the distance from the −180° reference (−180° − k·360° once the phase has wrapped) to
    the phase at the UGF. The frequency axis is in engineering units; the annotations sit
    inside the axes wherever the UGF falls (left of its line in the right part of the plot).
    ``bode_title`` gives the title; red when the circuit is unstable.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import EngFormatter, LogLocator, MaxNLocator
    from matplotlib.transforms import blended_transform_factory

    from .netlist.measure import wrap_deg
    from .report import si

    m = measurement
    sign = -1.0 if m.inverting else 1.0
    loop = sign * np.asarray(h)
    mag_db = 20 * np.log10(np.maximum(np.abs(loop), 1e-300))
    phase = np.degrees(np.unwrap(np.angle(loop)))
    fig = Figure(figsize=(7, 5.5))
    FigureCanvasAgg(fig)  # drawable on its own (tests measure the labels), no pyplot state
    ax_m, ax_p = fig.subplots(2, 1, sharex=True)
    ax_m.semilogx(freq_hz, mag_db, color="tab:blue")
    ax_m.axhline(0, color="grey", lw=0.8, ls=":")
    ax_m.set_ylabel("|H| (dB)")
    ax_p.semilogx(freq_hz, phase, color="tab:orange")
    ax_p.set_ylabel("loop phase (°)" if m.inverting else "phase (°)")
    ax_p.set_xlabel("frequency")
    ax_p.xaxis.set_major_locator(LogLocator(base=10, numticks=7))
    ax_p.xaxis.set_major_formatter(EngFormatter(unit="Hz"))
    ax_p.yaxis.set_major_locator(MaxNLocator(nbins=7, steps=[1, 2, 3, 4.5, 9]))  # 90° multiples
    ref_span = [float(np.min(phase)), float(np.max(phase))]
    if m.valid and m.ugf_hz:
        x0, x1 = np.log10(ax_m.get_xlim())
        right = (np.log10(m.ugf_hz) - x0) / (x1 - x0) > 0.6  # label left of the UGF line
        side = {"ha": "right" if right else "left", "xytext": (-5 if right else 5, 0)}
        for ax in (ax_m, ax_p):
            ax.axvline(m.ugf_hz, color="tab:red", lw=0.9, ls="--")
        top = blended_transform_factory(ax_m.transData, ax_m.transAxes)
        text = {"textcoords": "offset points", "color": "tab:red", "fontsize": 8, **side}
        ax_m.annotate(f"UGF {si(m.ugf_hz, 'Hz')}", (m.ugf_hz, 0.93), xycoords=top, va="top", **text)
        ph_ugf = float(np.interp(np.log10(m.ugf_hz), np.log10(freq_hz), phase))
        ref = ph_ugf - wrap_deg(180.0 + ph_ugf)  # −180° − k·360°, the line the margin is read from
        ref_span += [ref]
        ax_p.axhline(ref, color="grey", lw=0.8, ls=":")
        left = blended_transform_factory(ax_p.transAxes, ax_p.transData)
        k = round((-180.0 - ref) / 360.0)  # ref = −180° − k·360°
        ref_text = "−180°" if k == 0 else f"{ref:.0f}° = −180° {'−+'[k < 0]} {abs(k)}·360°"
        ref_text = ref_text.replace("-", "−")
        ax_p.annotate(ref_text, (0.01, ref), xycoords=left, va="bottom", xytext=(0, 2),
                      textcoords="offset points", color="grey", fontsize=7)  # fmt: skip
        ax_p.annotate(
            "",
            xy=(m.ugf_hz, ph_ugf),
            xytext=(m.ugf_hz, ref),
            arrowprops={"arrowstyle": "<->", "color": "tab:red", "shrinkA": 0, "shrinkB": 0},
        )
        ax_p.annotate(
            f"PM {ph_ugf - ref:.1f}°", (m.ugf_hz, (ph_ugf + ref) / 2), va="center", **text
        )
    lo, hi = min(ref_span), max(ref_span)
    pad = max(0.15 * (hi - lo), 10.0)  # room for the labels above and below the lines
    ax_p.set_ylim(lo - pad, hi + pad)
    unstable = m.stable is False or m.cl_stable is False
    fig.suptitle(bode_title(m, title), fontsize=9, color="tab:red" if unstable else "black")
    for ax in (ax_m, ax_p):
        ax.grid(True, which="both", lw=0.3)
    fig.tight_layout()
    return fig


def convergence_plot(
    history, path: str | Path, title: str = "design search", force: bool = True
) -> Path:
    """Write ``convergence_png`` to ``path`` atomically (an existing file only with ``force``)."""
    return atomic_write(path, convergence_png(history, title), force=force)


def convergence_png(history, title: str = "design search") -> bytes:
    """Best FoM found so far against samples spent (``DesignResult.history``), as a PNG."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [s for s, _ in history]
    ys = [np.nan if b is None else b for _, b in history]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.step(xs, ys, where="post", color="tab:blue")
    ax.set_xlabel("samples (generated and simulated circuits)")
    ax.set_ylabel("best FoM meeting the spec")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()
