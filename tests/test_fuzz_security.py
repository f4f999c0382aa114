"""Property-based checks of the hardening: hostile values, files and output targets fail with
our own one-line errors, never run code, and never leave half-written output.

Complements ``test_robustness.py`` (mutated circuit JSON and netlists).
"""

from __future__ import annotations

import io
import math
import os
import pickle

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cktgen_eda.errors import CktGenError, SpecError
from cktgen_eda.spec import LIMITS, parse_spec

RUNS = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
FEW = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))

_numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**400), 10**400),
    st.sampled_from(["1e400", "-1e400", "nan", "inf", "1e-400", "0x10", "1_000", "\uff15"]),
)


@RUNS
@given(
    name=st.sampled_from(["gain", "ugf", "bw", "pm", "stable", "x"]),
    op=st.sampled_from([">=", "<=", "=", ">", "<", "=="]),
    value=_numbers,
    unit=st.sampled_from(["", "dB", "Hz", "MHz", "GHz", "deg", "°", "meg", "%"]),
)
def test_any_constraint_parses_within_limits_or_fails_with_a_spec_error(name, op, value, unit):
    try:
        spec = parse_spec(f"{name}{op}{value}{unit}")
    except SpecError as exc:
        assert "\n" not in str(exc)
        return
    for q, (lo, hi) in LIMITS.items():
        iv = getattr(spec, q)
        for bound in (iv.lo, iv.hi):
            assert bound is None or (math.isfinite(bound) and lo <= bound <= hi)
    assert parse_spec(spec.to_text()) == spec if spec.to_text() else True


@RUNS
@given(text=st.text(max_size=80))
def test_any_text_is_a_spec_or_a_spec_error(text):
    try:
        parse_spec(text)
    except SpecError:
        pass


_KINDS = ["absent", "file", "fifo", "directory", "symlink"]


@FEW
@given(kinds=st.lists(st.sampled_from(_KINDS), min_size=1, max_size=4), force=st.booleans())
def test_several_outputs_are_written_all_or_none(tmp_path_factory, kinds, force):
    from cktgen_eda.fileio import write_files

    folder = tmp_path_factory.mktemp("out")
    targets = []
    for k, kind in enumerate(kinds):
        path = folder / f"f{k}"
        if kind == "file":
            path.write_text("old\n")
        elif kind == "fifo":
            os.mkfifo(path)
        elif kind == "directory":
            path.mkdir()
        elif kind == "symlink":
            (folder / f"real{k}").write_text("real\n")
            path.symlink_to(folder / f"real{k}")
        targets.append(path)
    before = {p.name: (os.lstat(p).st_mode, _content(p)) for p in folder.iterdir()}
    allowed = all(k == "absent" or (k == "file" and force) for k in kinds)
    try:
        write_files({p: f"new {k}\n" for k, p in enumerate(targets)}, force=force)
    except CktGenError:
        assert not allowed
        after = {p.name: (os.lstat(p).st_mode, _content(p)) for p in folder.iterdir()}
        assert after == before  # nothing written, nothing left behind
        return
    assert allowed
    assert [p.read_text() for p in targets] == [f"new {k}\n" for k in range(len(targets))]


def _content(path):
    return path.read_bytes() if path.is_file() and not path.is_symlink() else None


class _Boom:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


_evil = st.sampled_from(
    [
        pickle.dumps(_Boom()),
        pickle.dumps([_Boom()]),
        pickle.dumps({"a": _Boom()}),
        pickle.dumps(io.BytesIO(b"x")),
        pickle.dumps(ValueError("x")),
        b"cos\nsystem\n(S'echo pwned'\ntR.",  # protocol 0 GLOBAL + REDUCE
        b"\x80\x04\x95\x00",  # truncated
        b"",
    ]
)


@RUNS
@given(data=st.one_of(_evil, st.binary(max_size=200)), cut=st.integers(0, 200))
def test_ocb_pickles_load_only_graphs_and_plain_values(tmp_path_factory, data, cut, monkeypatch):
    """Random and hostile pickles end in CktGenError; nothing outside the allow-list is built."""
    pytest.importorskip("igraph")
    from cktgen_eda.data import ocb

    called = []
    monkeypatch.setattr(os, "system", lambda *a: called.append(a) or 0)
    folder = tmp_path_factory.mktemp("pkl")
    pkl, csv = folder / "x.pkl", folder / "x.csv"
    pkl.write_bytes(data[: cut or None])
    csv.write_text(",valid,gain,pm,bw,fom\n0,1,1.5,1.5,0.5,3.5\n")
    try:
        ocb.read_ocb(pkl, csv)
    except CktGenError as exc:
        assert "\n" not in str(exc)
    assert not called


@FEW
@given(text=st.text(max_size=300), wrap=st.booleans())
def test_kicad_netlists_of_any_text_fail_with_our_error(text, wrap):
    from cktgen_eda.netlist.kicad import parse_kicad_netlist

    doc = f'<export version="E"><components>{text}</components></export>' if wrap else text
    try:
        parse_kicad_netlist(doc, "<fuzz>")
    except CktGenError:
        pass


@pytest.fixture(scope="module")
def tiny_benchmark(tmp_path_factory):
    from helpers import synthetic

    from cktgen_eda.data.store import write_benchmark

    return write_benchmark(synthetic(6), tmp_path_factory.mktemp("bench") / "b.npz").read_bytes()


@RUNS
@given(flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), max_size=4))
def test_corrupted_benchmark_files_fail_with_our_error(tmp_path_factory, tiny_benchmark, flips):
    """Bytes flipped anywhere in a benchmark file: it loads or it is one CktGenError."""
    from cktgen_eda.data.store import read_benchmark

    data = bytearray(tiny_benchmark)
    for at, xor in flips:
        data[at % len(data)] ^= xor
    path = tmp_path_factory.mktemp("bad") / "b.npz"
    path.write_bytes(bytes(data))
    for check in (True, False):
        try:
            read_benchmark(path, check=check)
        except CktGenError as exc:
            assert "\n" not in str(exc)


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**13), 10**13) | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


@RUNS
@given(
    key=st.sampled_from(["split", "counts", "format", "version", "stability", "recipe"]),
    value=_json,
)
def test_any_manifest_entry_loads_or_fails_with_our_error(
    tmp_path_factory, tiny_benchmark, key, value
):
    import json
    import zipfile

    from cktgen_eda.data.store import read_benchmark

    src = io.BytesIO(tiny_benchmark)
    path = tmp_path_factory.mktemp("manifest") / "b.npz"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(path, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename == "manifest.json":
                manifest = json.loads(data)
                manifest[key] = value
                data = json.dumps(manifest).encode()
            zout.writestr(item, data)
    try:
        read_benchmark(path, check=False)
    except CktGenError as exc:
        assert "\n" not in str(exc)


@RUNS
@given(
    cells=st.lists(
        st.lists(st.one_of(_numbers.map(str), st.text(max_size=5)), min_size=0, max_size=7),
        max_size=4,
    )
)
def test_perform_csvs_hold_finite_labels_or_fail_with_our_error(tmp_path_factory, cells):
    import csv

    from cktgen_eda.data.ocb import read_perform_csv

    path = tmp_path_factory.mktemp("csv") / "p.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["", "valid", "gain", "pm", "bw", "fom"])
        writer.writerows(cells)
    try:
        table = read_perform_csv(path)
    except CktGenError as exc:
        assert "\n" not in str(exc)
        return
    for column, values in table.items():
        assert column == "valid" or all(math.isfinite(v) for v in values)
