"""Dataset statistics against hand-computed cases and the original OCB label files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import DATA

from cktgen_eda.data.stats import (
    Labels,
    clean_rows,
    compare,
    format_summary,
    labels_from_measurements,
    summarize,
)


def small_labels() -> Labels:
    # gain dB, UGF Hz, PM deg per row; rows 0–5 train, 6–8 test
    gain = [100, 100, 30, 200, 100, 0, 100, 30, 100]
    ugf = [2.5e9, 2.5e9, 0.5e9, 1.5e9, 2.5e9, 0, 2.5e9, 9.5e9, 2.5e9]
    pm = [60, 60, -100, 10, 60, 0, 60, 60, 60]
    valid = [True, True, True, True, True, False, True, True, True]
    return labels_from_measurements(gain, ugf, pm, valid, n_train=6)


def test_classes_and_cleaning_by_hand():
    lab = small_labels()
    # classes: (2,2,1) (2,2,1) (1,0,3) (3,1,1) (2,2,1) invalid→(0,0,0) | (2,2,1) (1,9,1) (2,2,1)
    assert lab.gain_cls.tolist() == [2, 2, 1, 3, 2, 0, 2, 1, 2]
    assert lab.bw_cls.tolist() == [2, 2, 0, 1, 2, 0, 2, 9, 2]
    assert lab.pm_cls.tolist() == [1, 1, 3, 1, 1, 0, 2, 1, 1][:6] + [1, 1, 1]
    train, test, keys = clean_rows(lab)
    assert train.tolist() == [0, 1, 2, 3, 4, 5] and test.tolist() == [6, 8]  # (1,9,1) unseen
    assert keys == {2 + 2000 + 1_000_000, 1 + 3_000_000, 3 + 1000 + 1_000_000, 0}
    s = summarize(lab)
    assert s["joint_classes"] == {"all": 5, "train": 4, "test": 1}
    assert s["class_shares"]["gain"] == pytest.approx([1 / 9, 2 / 9, 5 / 9, 1 / 9])
    assert s["valid_share"] == pytest.approx(8 / 9)
    assert s["quantiles"]["gain_db"]["50%"] == pytest.approx(100)


def test_compare_reports_worst_class_gap():
    a = summarize(small_labels())
    b = {
        "class_shares": {"gain": [0, 0.5, 0.5], "bw": [1.0], "pm": [0, 1.0]},
        "joint_classes": {"train": 8},
    }
    c = compare(a, b)
    assert c["class_share_gap"]["gain"]["class"] == 1
    assert c["class_share_gap"]["gain"]["max_pp"] == pytest.approx(100 * (0.5 - 2 / 9))
    assert c["joint_train_ratio"] == pytest.approx(0.5)


# perform101.csv in full; of perform301.csv (50,000 rows) the first row of each (split, joint
# class, pm >= 0), 238 train rows then 233 test rows: joint-class counts depend only on that set.
@pytest.mark.parametrize(
    "name, n_train, train_classes, test_classes",
    [("perform101.csv", None, 376, 265), ("perform301_distinct.csv", 238, 238, 227)],
)
def test_reproduces_cktgen_counts_on_the_original_labels(
    name, n_train, train_classes, test_classes
):
    s = summarize(Labels.from_csv(DATA / name, n_train=n_train))
    assert s["joint_classes"]["train"] == train_classes
    assert s["joint_classes"]["test"] == test_classes
    assert np.isclose(sum(s["class_shares"]["pm"]), 1)


def test_stored_perform301_summary_matches_its_subset():
    """The stored summary of the full perform301.csv agrees with the vendored subset."""
    stored = json.loads((DATA / "perform301_summary.json").read_text())["summary"]
    subset = summarize(Labels.from_csv(DATA / "perform301_distinct.csv", n_train=238))
    assert (stored["rows"], stored["train"]) == (50_000, 40_000)
    assert stored["joint_classes"] == subset["joint_classes"]
    assert set(stored) == set(subset)  # same fields: re-create it when summarize() changes
    for k in ("gain", "bw", "pm"):
        assert np.isclose(sum(stored["class_shares"][k]), 1)


def test_stability_shares_by_hand():
    from helpers import synthetic, with_stability

    # stable: even rows but every 10th (unknown → False); cl_stable: every 3rd row;
    # gain above 0 dB from row 20, so of the 8 "both" rows 6…54 only 24, 36, 42, 48, 54 work
    s = summarize(Labels.of(with_stability()))
    rows = {k: v["rows"] for k, v in s["stability"].items()}
    assert rows == {"stable": 24, "cl_stable": 20, "both": 8, "working": 5}
    assert s["stability"]["working"]["share"] == pytest.approx(5 / 60)
    text = format_summary("st", s)
    assert "stable at unity gain" in text and "working (both, gain > 0 dB)  5" in text
    # not measured (generated labels without verdicts, or an OCB CSV): no shares
    for lab in (Labels.of(synthetic()), small_labels()):
        s = summarize(lab)
        assert s["stability"] is None and "stability: not measured" in format_summary("x", s)
