"""Side-by-side tables of a shipped benchmark and the original OCB labels (docs/datasets.md).

python benchmarks/dataset_report.py ocb101 ../shared/data/perform101.csv
"""

from __future__ import annotations

import sys

import numpy as np

from cktgen_eda.data.stats import (
    ATTRIBUTES,
    QUANTILES,
    Labels,
    compare,
    failures_as_placeholders,
    summarize,
)
from cktgen_eda.data.store import load_benchmark

PLACEHOLDER = (1.19531, 2.00001, 0.00001)  # 101's zero rows marked valid (docs/benchmark.md §6)


def without_placeholders(lab: Labels) -> Labels:
    """The reference minus its zero-placeholder rows (failed runs stored as valid zeros)."""
    zero = (
        np.isclose(lab.gain, PLACEHOLDER[0])
        & np.isclose(lab.pm, PLACEHOLDER[1])
        & np.isclose(lab.bw, PLACEHOLDER[2])
        & lab.valid
    )
    keep = ~zero
    n_train = int(keep[: lab.n_train].sum())
    return Labels(
        **{
            k: getattr(lab, k)[keep]
            for k in ("valid", "gain", "bw", "pm", "fom", "gain_cls", "bw_cls", "pm_cls")
        },
        n_train=n_train,
    )


def main(name: str, csv_path: str, placeholders: bool = False) -> None:
    bench = load_benchmark(name)
    ours = summarize(Labels.of(bench))
    ours_ph = summarize(failures_as_placeholders(Labels.of(bench)))
    ref_lab = Labels.from_csv(csv_path)
    ref = summarize(ref_lab)
    ref_np = summarize(without_placeholders(ref_lab))
    cols = [(name, ours), ("original", ref)]
    if placeholders:  # OCB-101 only: its failed runs are valid zero rows
        cols.insert(1, (f"{name}, failures as 101 placeholders", ours_ph))
        cols.append(("original w/o placeholders", ref_np))

    def row(label: str, cells) -> None:
        print(f"| {label} | " + " | ".join(cells) + " |")

    row("", [c for c, _ in cols])
    print("|---|" + "---|" * len(cols))
    row("rows", [f"{s['rows']:,}" for _, s in cols])
    row("valid share", [f"{100 * s['valid_share']:.1f} %" for _, s in cols])
    row(
        "joint classes train / test (after cleaning)",
        [f"{s['joint_classes']['train']} / {s['joint_classes']['test']}" for _, s in cols],
    )
    units = {
        "gain_db": ("gain dB", ".1f"),
        "ugf_ghz": ("UGF GHz", ".3g"),
        "pm_deg": ("PM °", ".1f"),
        "fom": ("FoM (CSV)", ".1f"),
    }
    qnames = "/".join(f"{100 * q:.0f}" for q in QUANTILES)
    for k, (label, fmt) in units.items():
        row(
            f"{label} q{qnames} %",
            [
                "<br>".join(
                    " / ".join(format(v, fmt) for v in s["quantiles"][k].values()) for _, s in [c]
                )
                for c in cols
            ],
        )
    print()
    for attr in ATTRIBUTES:
        n = max(len(s["class_shares"][attr]) for _, s in cols)
        n = min(n, 20)
        print(f"| {attr} class | " + " | ".join(str(c) for c in range(n)) + " |")
        print("|---|" + "---|" * n)
        for cname, s in cols:
            sh = s["class_shares"][attr] + [0.0] * n
            print(f"| {cname} | " + " | ".join(f"{100 * x:.1f}" for x in sh[:n]) + " |")
        print()
    pairs = [(name, ours, cname, s) for cname, s in cols[1:] if not cname.startswith(name)]
    if placeholders:
        pairs.append((cols[1][0], ours_ph, "original", ref))
    for oname, o, cname, s in pairs:
        c = compare(o, s)
        gaps = ", ".join(
            f"{k} {g['max_pp']:.1f} pp (class {g['class']})"
            for k, g in c["class_share_gap"].items()
        )
        print(
            f"{oname} vs {cname}: largest gaps {gaps}; train joint classes "
            f"{o['joint_classes']['train']} vs {s['joint_classes']['train']} "
            f"({100 * (c['joint_train_ratio'] - 1):+.1f} %)"
        )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], "--placeholders" in sys.argv)
