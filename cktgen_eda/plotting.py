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
    """A two-panel Bode plot PNG of the unity-gain loop L = sgn H(0)·H.

    Magnitude in dB and the unwrapped loop phase, which starts near 0° for an amplifier
    closed in negative feedback; the UGF gets a vertical line and the phase margin is drawn
    from the −180° reference (−180° − k·360° once the phase has wrapped). The title says
    UNSTABLE, with the offending pole, when the poles say so.
    """
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .netlist.measure import pole_text, wrap_deg
    from .report import si

    m = measurement
    sign = -1.0 if m.inverting else 1.0
    loop = sign * np.asarray(h)
    mag_db = 20 * np.log10(np.maximum(np.abs(loop), 1e-300))
    phase = np.degrees(np.unwrap(np.angle(loop)))
    fig, (ax_m, ax_p) = plt.subplots(2, 1, sharex=True, figsize=(7, 5.5))
    ax_m.semilogx(freq_hz, mag_db, color="tab:blue")
    ax_m.axhline(0, color="grey", lw=0.8, ls=":")
    ax_m.set_ylabel("|H| (dB)")
    ax_p.semilogx(freq_hz, phase, color="tab:orange")
    ax_p.set_ylabel("loop phase (°)" if m.inverting else "phase (°)")
    ax_p.set_xlabel("frequency (Hz)")
    if m.valid and m.ugf_hz:
        for ax in (ax_m, ax_p):
            ax.axvline(m.ugf_hz, color="tab:red", lw=0.9, ls="--")
        ax_m.annotate(
            f"UGF {si(m.ugf_hz, 'Hz')}",
            (m.ugf_hz, 0),
            textcoords="offset points",
            xytext=(5, 8),
            color="tab:red",
            fontsize=8,
        )
        ph_ugf = float(np.interp(np.log10(m.ugf_hz), np.log10(freq_hz), phase))
        ref = ph_ugf - wrap_deg(180.0 + ph_ugf)  # −180° − k·360°, the line the margin is read from
        ax_p.axhline(ref, color="grey", lw=0.8, ls=":")
        ax_p.annotate(f"{ref:.0f}°", (freq_hz[0], ref), xytext=(2, 3), textcoords="offset points",
                      color="grey", fontsize=7)  # fmt: skip
        ax_p.annotate(
            "",
            xy=(m.ugf_hz, ph_ugf),
            xytext=(m.ugf_hz, ref),
            arrowprops={"arrowstyle": "<->", "color": "tab:red"},
        )
        ax_p.annotate(
            f"PM {ph_ugf - ref:.1f}°",
            (m.ugf_hz, (ph_ugf + ref) / 2),
            textcoords="offset points",
            xytext=(6, 0),
            color="tab:red",
            fontsize=8,
        )
    if m.valid:
        loop_pm = "-" if m.pm_loop_deg is None else f"{m.pm_loop_deg:.1f}°"
        subtitle = (
            f"gain {m.gain_db:.1f} dB, UGF {si(m.ugf_hz, 'Hz')}, loop PM {loop_pm} "
            f"(benchmark PM {m.pm_deg:.1f}°), FoM {m.fom:.2f}"
        )
    else:
        subtitle = f"invalid: {m.reason}"
    verdict = ""
    if m.stable is False and m.poles:
        verdict = f"UNSTABLE: pole at {pole_text(m.poles[0])}\n"
    elif m.cl_stable is False and m.cl_poles:
        verdict = f"UNSTABLE at unity gain: pole at {pole_text(m.cl_poles[0])}\n"
    fig.suptitle(
        f"{title or m.file or 'circuit'}\n{verdict}{subtitle}",
        fontsize=9,
        color="tab:red" if verdict else "black",
    )
    for ax in (ax_m, ax_p):
        ax.grid(True, which="both", lw=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


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
