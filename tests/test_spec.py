"""Spec grammar, class scheme with the fixed OCB offsets, and the raw FoM."""

from __future__ import annotations

import csv
import math
from dataclasses import replace

import pytest
from helpers import DATA

from cktgen_eda.errors import SpecError
from cktgen_eda.spec import (
    FOM_OFFSET,
    Interval,
    class_region,
    normalise,
    parse_spec,
    raw_fom,
    spec_class,
)


def test_parse_the_readme_spec():
    s = parse_spec("gain>=60dB, ugf>=50MHz, pm=45..90deg")
    assert s.gain_db == Interval(lo=60.0)
    assert s.ugf_hz == Interval(lo=50e6)
    assert s.pm_deg == Interval(45.0, 90.0)
    assert s.meets(61, 60e6, 50) and not s.meets(59, 60e6, 50) and not s.meets(61, 60e6, 95)


@pytest.mark.parametrize(
    "text, quantity, interval",
    [
        ("bw>2.5GHz", "ugf_hz", Interval(lo=2.5e9, lo_open=True)),
        ("ugf<=100k", "ugf_hz", Interval(hi=100e3)),
        ("ugf>=1e9", "ugf_hz", Interval(lo=1e9)),
        ("gain<80", "gain_db", Interval(hi=80.0, hi_open=True)),
        ("pm>=45", "pm_deg", Interval(lo=45.0)),
        ("pm=60deg", "pm_deg", Interval(60.0, 60.0)),
        ("gain=40dB..80dB", "gain_db", Interval(40.0, 80.0)),
        ("gain>=60dB,gain<=100dB", "gain_db", Interval(60.0, 100.0)),
    ],
)
def test_grammar(text, quantity, interval):
    assert getattr(parse_spec(text), quantity) == interval


def test_strict_bounds():
    s = parse_spec("gain>60dB")
    assert not s.meets(60, 0, 0) and s.meets(60.001, 0, 0)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty spec"),
        ("gain>=60dB,", "empty constraint"),
        ("noise<=3nV", "unknown quantity 'noise'"),
        ("gain>=60dBm", "unknown unit 'dBm'"),
        ("ugf>=50MHzz", "unknown unit 'MHzz'"),
        ("pm>=4x5deg", "bad number"),
        ("gain 60", "cannot read constraint"),
        ("pm>=45..90", "a range needs '='"),
        ("pm=90..45", "empty range"),
        ("gain>=100dB,gain<=50dB", "contradictory constraints on gain"),
    ],
)
def test_errors_name_the_token(text, message):
    with pytest.raises(SpecError, match=message):
        parse_spec(text)


@pytest.mark.parametrize(
    "text, hint",
    [
        ("gain>=60dB ugf>=1GHz", "separate constraints with commas, as in 'gain>=60dB,ugf>=1GHz'"),
        ("gain>=60dB;ugf>=1GHz", "separate constraints with commas, as in 'gain>=60dB,ugf>=1GHz'"),
        ("ugf=100MHz...200MHz", "a range has two dots, as in 'ugf=100MHz..200MHz'"),
        ("pm=45-90deg", "write a range with '=' and two dots, as in 'pm=45..90deg'"),
        ("gain=>60", "the operator is one of >="),
        ("ugf=300MHz..200MHz", "300MHz > 200MHz (write the lower end first)"),
    ],
)
def test_errors_suggest_the_grammar(text, hint):
    with pytest.raises(SpecError) as info:
        parse_spec(text)
    assert hint in str(info.value) and "\n" not in str(info.value)


def test_three_dots_are_never_read_as_a_decimal_point():
    # "0...5" used to parse as 0..0.5
    with pytest.raises(SpecError, match="two dots"):
        parse_spec("gain=0...5dB")


def test_text_round_trip():
    for text in [
        "gain>=60dB,ugf>=50MHz,pm>=45deg",
        "gain=40..80dB",
        "pm>30deg,pm<=90deg",
        "ugf<1.5GHz",
    ]:
        s = parse_spec(text)
        assert parse_spec(s.to_text()) == s


def test_class_bins_in_physical_units():
    # docs/benchmark.md §4.5: gain 1 ↔ −19.5…80.5 dB, bw k ↔ [k, k+1) GHz, pm 1 ↔ (0°, 90°]
    assert spec_class(60.0, 0.5e9, 45.0) == (1, 0, 1)
    assert spec_class(100.0, 2.5e9, -30.0) == (2, 2, 2)
    assert spec_class(200.0, 31.8e9, 170.0) == (3, 31, 0)
    assert spec_class(-30.0, 0, -120.0) == (0, 0, 3)
    r = class_region((2, 3, 1))
    assert r["gain_db"].contains(80.6) and not r["gain_db"].contains(180.6)
    assert r["ugf_hz"].contains(3.2e9) and not r["ugf_hz"].contains(4.1e9)
    assert r["pm_deg"].contains(45.0) and not r["pm_deg"].contains(-1.0)


def test_spec_intersects_class():
    s = parse_spec("gain>=100dB,ugf>=2GHz,pm>=30deg")
    assert s.intersects_class((2, 2, 1)) and s.intersects_class((3, 20, 0))
    assert not s.intersects_class((1, 2, 1))  # gain class 1 tops out at 80.5 dB
    assert not s.intersects_class((2, 1, 1))  # below 2 GHz
    assert not replace(s, require_stable=False).intersects_class((2, 2, 2))  # pm ≤ 0°, judged raw
    assert s.intersects_class((2, 2, 2))  # an inverting amplifier there has 90…180° of margin


def test_fom_and_normalisation_match_the_benchmark_csv():
    # one original row of perform301.csv per (split, joint class, pm >= 0): every class
    with (DATA / "perform301_distinct.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if r["valid"] == "1"]
    for r in rows:
        gain_db = (float(r["gain"]) - 1.19531) * 100
        pm_deg = (2.00001 - float(r["pm"])) * 90
        ugf_hz = (float(r["bw"]) - 0.00001) * 1e9
        assert raw_fom(gain_db, ugf_hz, pm_deg) + FOM_OFFSET == pytest.approx(
            float(r["fom"]), abs=1e-4
        )
        n = normalise(gain_db, ugf_hz, pm_deg)
        assert n["gain"] == pytest.approx(float(r["gain"]), abs=1e-9)
        assert spec_class(gain_db, ugf_hz, pm_deg) == tuple(
            math.floor(float(r[k]) + 1e-12) for k in ("gain", "bw", "pm")
        )


def test_stable_any_relaxes_the_product_rules_and_round_trips():
    assert parse_spec("gain>=60dB").require_stable is True
    raw = parse_spec("gain>=60dB, stable=any")
    assert raw.require_stable is False and raw.to_text() == "gain>=60dB,stable=any"
    assert parse_spec(raw.to_text()) == raw
    assert parse_spec("stable=required,pm>=45").require_stable is True
    for bad in ("stable=maybe", "stable>=any"):
        with pytest.raises(SpecError, match="stable=any"):
            parse_spec(bad)


def test_benchmark_boxes_add_the_inverting_image_of_pm():
    boxes = parse_spec("pm>=60deg").benchmark_boxes()
    assert [(b.pm_deg.lo, b.pm_deg.hi) for b in boxes] == [(60, None), (-120, 0)]
    # a loop margin window that wraps: 150…170° is −30…−10° benchmark PM when inverting
    (_, inv) = parse_spec("pm=150..170deg").benchmark_boxes()
    assert (inv.pm_deg.lo, inv.pm_deg.hi) == (-30, -10)
    wrapped = parse_spec("pm<=-150deg").benchmark_boxes()[1:]
    assert [(b.pm_deg.lo, b.pm_deg.hi) for b in wrapped] == [(0, 30)]
    assert parse_spec("pm>=60deg,stable=any").benchmark_boxes() == [
        parse_spec("pm>=60deg,stable=any")
    ]
    # a class whose benchmark PM is −180…−90° holds inverting amplifiers with 0…90° margin
    assert parse_spec("pm>=45deg").intersects_class((2, 3, 3))
    assert not parse_spec("pm>=45deg,stable=any").intersects_class((2, 3, 3))
