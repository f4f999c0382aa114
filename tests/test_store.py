"""Benchmark files: exact round trip, fixed bytes, integrity checks, label conventions."""

from __future__ import annotations

import json
import math
import random
import zipfile

import numpy as np
import pytest
from helpers import synthetic, with_stability

from cktgen_eda.data.generator import generate
from cktgen_eda.data.store import (
    label_columns,
    load_benchmark,
    read_benchmark,
    unlabelled,
    write_benchmark,
)
from cktgen_eda.errors import CktGenError


def test_round_trip_is_exact(tmp_path):
    bench = synthetic()
    path = write_benchmark(bench, tmp_path / "s.npz")
    back = read_benchmark(path)
    assert len(back) == 60 and back.n_train == 54 and back.name == "synthetic"
    for i in range(len(bench)):
        assert back.circuit(i).nodes == bench.circuit(i).nodes
        assert back.circuit(i).edges == bench.circuit(i).edges
    for key, a in bench.arrays.items():
        b = back.arrays[key]
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), key
    assert back.manifest["counts"] == {
        "circuits": 60,
        "train": 54,
        "test": 6,
        "valid": 51,
        "topologies": 15,
    }


def test_same_content_same_bytes(tmp_path):
    a = write_benchmark(synthetic(), tmp_path / "a.npz").read_bytes()
    b = write_benchmark(synthetic(), tmp_path / "b.npz").read_bytes()
    assert a == b
    assert a != write_benchmark(synthetic(seed=1), tmp_path / "c.npz").read_bytes()


def test_generated_values_come_back_exactly(tmp_path):
    bench = read_benchmark(write_benchmark(synthetic(), tmp_path / "s.npz"))
    for c in bench.circuits():
        for node in c.nodes:
            for v in node.ocb_values():
                assert v == round(v, 1)


def test_invalid_rows_follow_the_ocb_conventions():
    cols = label_columns(
        np.array([100.0, 50.0, -150.0]),
        np.array([2.5e9, np.nan, 1e9]),
        np.array([60.0, np.nan, 10.0]),
        np.array([True, False, True]),
    )
    assert cols["gain"][1] == pytest.approx(1.19531) and cols["fom"][1] == pytest.approx(3.20001)
    assert (cols["gain_cls"][1], cols["bw_cls"][1], cols["pm_cls"][1]) == (0, 0, 0)
    assert math.isnan(cols["fom_raw"][1])
    # valid row: floors of the normalised values; raw FoM per docs/benchmark.md §4.4
    assert (cols["gain_cls"][0], cols["bw_cls"][0], cols["pm_cls"][0]) == (2, 2, 1)
    assert cols["fom_raw"][0] == pytest.approx(1.2 - 1.6 * 60 / 90 + 25)
    assert cols["gain_cls"][2] == 0  # below −119.5 dB: still the bottom class


def test_tampered_file_fails_the_sha256_check(tmp_path):
    path = write_benchmark(synthetic(), tmp_path / "s.npz")
    bench = read_benchmark(path)
    bench.arrays["gain_db"] = bench.arrays["gain_db"] + 1
    bad = tmp_path / "bad.npz"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "gain_db.npy":
                import io

                buf = io.BytesIO()
                np.lib.format.write_array(buf, bench.arrays["gain_db"])
                data = buf.getvalue()
            dst.writestr(item, data)
    with pytest.raises(CktGenError, match="sha256"):
        read_benchmark(bad)
    assert len(read_benchmark(bad, check=False)) == 60


@pytest.mark.parametrize("content", [b"", b"not a zip", b"PK\x03\x04garbage"])
def test_unreadable_files_are_one_line_errors(tmp_path, content):
    path = tmp_path / "x.npz"
    path.write_bytes(content)
    with pytest.raises(CktGenError, match="not a readable benchmark"):
        read_benchmark(path)


def test_refuses_overwrite_and_unknown_names(tmp_path):
    path = write_benchmark(synthetic(), tmp_path / "s.npz")
    with pytest.raises(CktGenError, match="exists"):
        write_benchmark(synthetic(), path)
    with pytest.raises(CktGenError, match="no benchmark named 'nope'"):
        load_benchmark("nope")


# ------------------------------------------------------------------ stability columns


def test_stability_columns_are_bool_and_round_trip(tmp_path):
    bench = with_stability()
    for key in ("stable", "cl_stable"):
        assert bench[key].dtype == np.bool_ and bench[key].shape == (60,)
    assert not bench["stable"][::10].any()  # unknown → False
    assert bench["stable"][2] and not bench["stable"][1] and bench["cl_stable"][3]
    assert bench.manifest["stability"] == {"measured": True, "unknown_rows": 0}
    back = read_benchmark(write_benchmark(bench, tmp_path / "s.npz"))
    assert np.array_equal(back["stable"], bench["stable"])
    assert np.array_equal(back["cl_stable"], bench["cl_stable"])
    assert back.manifest["version"] == 2 and back.manifest["stability"]["measured"]


def test_labels_without_verdicts_store_false_and_say_so():
    for bench in (synthetic(), unlabelled([c for _, c in generate(random.Random(1), 5)])):
        assert bench["stable"].dtype == np.bool_ and not bench["stable"].any()
        assert not bench["cl_stable"].any()
        assert bench.manifest["stability"] == {"measured": False, "unknown_rows": len(bench)}


def test_stability_columns_change_the_sha256():
    a, b = with_stability(), with_stability()
    b.arrays["cl_stable"] = ~b.arrays["cl_stable"]
    assert a.content_sha256() != b.content_sha256()


def _rewrite(src, dst, drop=(), **manifest_updates):
    """Copy a benchmark zip without the ``drop`` members, with manifest fields replaced."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            if item.filename in drop:
                continue
            data = zin.read(item)
            if item.filename == "manifest.json":
                data = json.dumps({**json.loads(data), **manifest_updates}).encode()
            zout.writestr(item, data)
    return dst


def test_version_1_files_are_refused_in_one_line(tmp_path):
    src = write_benchmark(synthetic(), tmp_path / "s.npz")
    old = _rewrite(src, tmp_path / "v1.npz", ("stable.npy", "cl_stable.npy"), version=1)
    with pytest.raises(CktGenError, match="version 1 has no 'stable'.*dataset build") as e:
        read_benchmark(old)
    assert "\n" not in str(e.value)
    imported = _rewrite(old, tmp_path / "v1o.npz", source="ocb")
    with pytest.raises(CktGenError, match="dataset import-ocb"):
        read_benchmark(imported)
    lacking = _rewrite(src, tmp_path / "v2.npz", ("cl_stable.npy",))
    with pytest.raises(CktGenError, match="has no 'cl_stable' column"):
        read_benchmark(lacking)
