"""Bode plots of measured sweeps, UGF and phase margin marked (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .fileio import atomic_write


def bode_plot(
    freq_hz: np.ndarray, h: np.ndarray, measurement, path: str | Path, title: str | None = None
) -> Path:
    """Write a two-panel Bode plot PNG (|H| in dB, phase in degrees) atomically.

    The UGF gets a vertical line on both panels; the phase panel marks the phase at the UGF
    and the −180° reference with the phase margin written beside it.
    """
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mag_db = 20 * np.log10(np.maximum(np.abs(h), 1e-300))
    phase = np.degrees(np.unwrap(np.angle(h)))
    fig, (ax_m, ax_p) = plt.subplots(2, 1, sharex=True, figsize=(7, 5.5))
    ax_m.semilogx(freq_hz, mag_db, color="tab:blue")
    ax_m.axhline(0, color="grey", lw=0.8, ls=":")
    ax_m.set_ylabel("|H| (dB)")
    ax_p.semilogx(freq_hz, phase, color="tab:orange")
    ax_p.set_ylabel("phase (°)")
    ax_p.set_xlabel("frequency (Hz)")
    m = measurement
    if m.valid and m.ugf_hz:
        for ax in (ax_m, ax_p):
            ax.axvline(m.ugf_hz, color="tab:red", lw=0.9, ls="--")
        ax_m.annotate(
            f"UGF {m.ugf_hz:.3g} Hz",
            (m.ugf_hz, 0),
            textcoords="offset points",
            xytext=(5, 8),
            color="tab:red",
            fontsize=8,
        )
        ph_ugf = float(np.interp(np.log10(m.ugf_hz), np.log10(freq_hz), phase))
        ref = ph_ugf - m.pm_deg  # the −180° line (mod 360) the margin is measured from
        ax_p.axhline(ref, color="grey", lw=0.8, ls=":")
        ax_p.annotate(
            "",
            xy=(m.ugf_hz, ph_ugf),
            xytext=(m.ugf_hz, ref),
            arrowprops={"arrowstyle": "<->", "color": "tab:red"},
        )
        ax_p.annotate(
            f"PM {m.pm_deg:.1f}°",
            (m.ugf_hz, (ph_ugf + ref) / 2),
            textcoords="offset points",
            xytext=(6, 0),
            color="tab:red",
            fontsize=8,
        )
    subtitle = f"gain {m.gain_db:.1f} dB, FoM {m.fom:.2f}" if m.valid else f"invalid: {m.reason}"
    fig.suptitle(f"{title or m.file or 'circuit'}\n{subtitle}", fontsize=9)
    for ax in (ax_m, ax_p):
        ax.grid(True, which="both", lw=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return atomic_write(path, buf.getvalue())


def convergence_plot(history, path: str | Path, title: str = "design search") -> Path:
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
    from .fileio import atomic_write

    return atomic_write(path, buf.getvalue())
