"""Hostile dataset files and perform CSVs: one ``Error:`` line, exit 1, nothing half-written."""

from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import synthetic

from cktgen_eda.cli import cli
from cktgen_eda.data.store import read_benchmark, write_benchmark
from cktgen_eda.errors import CktGenError


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_one_line_error(res, *words):
    assert res.exit_code == 1, (res.output, res.exception)
    assert "Traceback" not in res.output and res.output.startswith("Error: ")
    assert res.output.count("\n") == 1, res.output
    for word in words:
        assert word in res.output, res.output


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return write_benchmark(synthetic(12), tmp_path_factory.mktemp("good") / "good.npz")


def rewrite(src, dst, **members):
    """A copy of the zip ``src`` with members replaced (bytes) or left out (None)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = members.get(item.filename, zin.read(item))
            if data is not None:
                zout.writestr(item, data)
    return dst


def edit_manifest(src, dst, edit):
    with zipfile.ZipFile(src) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    return rewrite(src, dst, **{"manifest.json": json.dumps(edit(manifest)).encode()})


def huge_header(descr="<f8", shape=(10**12,)):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    return buf.getvalue() + bytes(64)


def bad_deflate(src, dst):
    """Flip bytes inside the compressed ``node_value.npy`` stream (its CRC field stays)."""
    data = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as zf:
        info = zf.getinfo("node_value.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for k in range(start + 10, start + 40):
        data[k] ^= 0xFF
    dst.write_bytes(bytes(data))
    return dst


def put(dst, data):
    dst.write_bytes(data)
    return dst


def without_split(m):
    return {k: v for k, v in m.items() if k != "split"}


CORRUPT = {
    "bad deflate stream": (bad_deflate, "not a readable benchmark"),
    "manifest without split": (lambda s, d: edit_manifest(s, d, without_split), "split"),
    "manifest is a list": (lambda s, d: edit_manifest(s, d, lambda m: [m]), "not a cktgen-eda"),
    "split is a list": (
        lambda s, d: edit_manifest(s, d, lambda m: {**m, "split": [0, 10]}),
        "'split' must be an object",
    ),
    "split train is text": (
        lambda s, d: edit_manifest(s, d, lambda m: {**m, "split": {"train": [0, "x"]}}),
        "split",
    ),
    "stability is a list": (
        lambda s, d: edit_manifest(s, d, lambda m: {**m, "stability": [True]}),
        "'stability' must be an object",
    ),
    "shape claims 1e12 elements": (
        lambda s, d: rewrite(s, d, **{"gain_db.npy": huge_header()}),
        "claims shape (1000000000000,)",
    ),
    "object dtype": (
        lambda s, d: rewrite(s, d, **{"gain_db.npy": huge_header("|O", (1,))}),
        "dtype object",
    ),
    "missing column": (lambda s, d: rewrite(s, d, **{"edges.npy": None}), "no 'edges' column"),
    "truncated": (lambda s, d: put(d, s.read_bytes()[:-200]), "not a readable"),
    "zero bytes": (lambda s, d: put(d, b""), "not a readable"),
    "not a zip": (lambda s, d: put(d, b"hello"), "not a readable"),
    "directory": (lambda s, d: d.mkdir() or d, "directory"),
    "fifo": (lambda s, d: os.mkfifo(d) or d, "not a regular file"),  # never opened: it would block
}


@pytest.mark.parametrize("case", CORRUPT)
def test_corrupt_files_are_one_line_errors_in_dataset_info(good, tmp_path, case):
    make, message = CORRUPT[case]
    bad = make(good, tmp_path / "bad.npz")
    assert_one_line_error(invoke("dataset", "info", bad), str(bad), message)
    with pytest.raises(CktGenError, match="bad.npz"):
        read_benchmark(bad, check=False)


def test_a_huge_shape_is_refused_before_allocating(good, tmp_path, monkeypatch):
    def no_alloc(*args, **kwargs):
        raise AssertionError("read_array ran on a header claiming 8 TB")

    monkeypatch.setattr(np.lib.format, "read_array", no_alloc)
    bad = rewrite(good, tmp_path / "bad.npz", **{"node_ptr.npy": huge_header("<i8")})  # read first
    with pytest.raises(CktGenError, match="claims shape"):
        read_benchmark(bad)


@pytest.mark.parametrize("case", ["bad deflate stream", "manifest without split"])
@pytest.mark.parametrize("command", ["evaluate", "train", "export-ocb"])
def test_every_command_that_loads_a_dataset_says_one_line(good, tmp_path, case, command):
    bad = CORRUPT[case][0](good, tmp_path / "bad.npz")
    args = {
        "evaluate": ["evaluate", "--task", "recon", "--dataset", bad],
        "train": ["train", "--dataset", bad, "--epochs", "1", "--out-dir", tmp_path / "run"],
        "export-ocb": ["dataset", "export-ocb", bad, "--pkl", tmp_path / "a.pkl"]
        + ["--csv", tmp_path / "a.csv"],
    }[command]
    assert_one_line_error(invoke(*args), str(bad))
    assert not (tmp_path / "a.pkl").exists()


def forge(good, tmp_path, **arrays):
    """A file with consistent sha256 and counts but broken arrays (anyone can hash)."""
    bench = read_benchmark(good)
    bench.arrays.update(arrays)
    return write_benchmark(bench, tmp_path / "forged.npz")


@pytest.mark.parametrize(
    "column, value",
    [
        ("node_type", lambda b: np.full_like(b["node_type"], 99)),
        ("edges", lambda b: np.full_like(b["edges"], 120)),
        ("node_ptr", lambda b: b["node_ptr"][::-1].copy()),
    ],
)
def test_forged_structure_is_refused_even_with_a_matching_sha256(good, tmp_path, column, value):
    path = forge(good, tmp_path, **{column: value(read_benchmark(good))})
    assert_one_line_error(invoke("dataset", "info", path), column)


def test_manifest_counts_must_match_the_arrays(good, tmp_path):
    bad = edit_manifest(good, tmp_path / "bad.npz", lambda m: {**m, "counts": {"circuits": 1}})
    assert_one_line_error(invoke("dataset", "info", bad), "counts")


# ------------------------------------------------------------------------ perform CSVs
CSV = (
    ",valid,gain,pm,bw,fom\n0,1,2.5,1.5,0.5,30.0\n1,1,{gain},1.5,0.5,30.0\n2,0,1.2,2.0,0.0,{fom}\n"
)


@pytest.mark.parametrize(
    "gain, fom, column, found",
    [
        ("nan", "0", "gain", "nan"),
        ("inf", "0", "gain", "inf"),
        ("-inf", "0", "gain", "-inf"),
        ("1e400", "0", "gain", "1e400"),
        ("2.5", "nan", "fom", "nan"),  # an invalid row's labels are read too
    ],
)
def test_non_finite_csv_values_name_file_line_and_column(tmp_path, gain, fom, column, found):
    path = tmp_path / "perform.csv"
    path.write_text(CSV.format(gain=gain, fom=fom))
    line = 3 if column == "gain" else 4
    res = invoke("dataset", "info", path)
    assert_one_line_error(res, f"{path} line {line}, column {column!r}", repr(found))


def test_valid_must_be_0_or_1(tmp_path):
    path = tmp_path / "perform.csv"
    path.write_text(CSV.format(gain=2.5, fom=0).replace("\n1,1,", "\n1,0.5,"))
    assert_one_line_error(invoke("dataset", "info", path), "line 3, column 'valid'", "0 or 1")


def test_an_oversized_csv_field_is_one_line(tmp_path):
    path = tmp_path / "perform.csv"
    path.write_text(CSV.format(gain='"' + "9" * 200_000 + '"', fom=0))
    assert_one_line_error(invoke("dataset", "info", path), str(path))


@pytest.fixture(scope="module")
def ocb_files(tmp_path_factory):
    pytest.importorskip("igraph")
    from cktgen_eda.data.ocb import write_ocb

    folder = tmp_path_factory.mktemp("ocb")
    return write_ocb(synthetic(12), folder / "t.pkl", folder / "t.csv")


@pytest.mark.parametrize("value", ["nan", "inf", "1e400"])
def test_import_ocb_refuses_non_finite_labels(ocb_files, tmp_path, value):
    pkl, good_csv = ocb_files
    lines = good_csv.read_text().splitlines()
    cells = lines[5].split(",")
    cells[2] = value  # gain of row 4, marked valid
    lines[5] = ",".join(cells)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.npz"
    res = invoke("dataset", "import-ocb", pkl, bad, "-o", out)
    assert_one_line_error(res, f"{bad} line 6, column 'gain'", value)
    assert not out.exists()


# ------------------------------------------------------------- outputs: all or nothing
def test_export_ocb_checks_the_csv_path_before_writing_the_pickle(good, tmp_path):
    pytest.importorskip("igraph")
    pkl, csv = tmp_path / "a.pkl", tmp_path / "missing" / "a.csv"
    res = invoke("dataset", "export-ocb", good, "--pkl", pkl, "--csv", csv)
    assert not pkl.exists()
    assert_one_line_error(res, str(csv), "does not exist")


def test_export_ocb_refuses_a_directory_as_csv_before_writing(good, tmp_path):
    pytest.importorskip("igraph")
    from cktgen_eda.data.ocb import write_ocb

    pkl, csv = tmp_path / "a.pkl", tmp_path / "dir.csv"
    csv.mkdir()
    with pytest.raises(CktGenError, match="dir.csv") as err:
        write_ocb(read_benchmark(good), pkl, csv, force=True)
    assert not pkl.exists()
    assert "not a regular file" in str(err.value)


def test_export_ocb_refuses_one_path_for_both(good, tmp_path):
    pytest.importorskip("igraph")
    both = tmp_path / "both"
    res = invoke("dataset", "export-ocb", good, "--pkl", both, "--csv", both, "--force")
    assert_one_line_error(res, "same file")
    assert not both.exists()


def test_export_ocb_removes_its_pickle_when_the_csv_write_fails(good, tmp_path, monkeypatch):
    pytest.importorskip("igraph")
    from cktgen_eda.data import ocb
    from cktgen_eda.fileio import atomic_write

    def failing_csv(path, data, force=True):
        if str(path).endswith(".csv"):
            raise CktGenError(f"cannot write {path}: No space left on device")
        return atomic_write(path, data, force)

    monkeypatch.setattr(ocb, "atomic_write", failing_csv)
    pkl, csv = tmp_path / "a.pkl", tmp_path / "a.csv"
    res = invoke("dataset", "export-ocb", good, "--pkl", pkl, "--csv", csv)
    assert_one_line_error(res, "No space left")
    assert not pkl.exists() and not csv.exists()
    # a pickle that was there before (--force) is not ours to remove
    pkl.write_bytes(b"old")
    assert invoke("dataset", "export-ocb", good, "--pkl", pkl, "--csv", csv, "--force").exit_code
    assert pkl.exists()


@pytest.fixture
def no_build(monkeypatch):
    from cktgen_eda.data import build

    def refuse(*args, **kwargs):
        raise AssertionError("the build ran before the output path was checked")

    monkeypatch.setattr(build, "build_benchmark", refuse)


def test_dataset_build_checks_a_missing_folder_before_building(tmp_path, no_build):
    out = tmp_path / "missing" / "x.npz"
    res = invoke("dataset", "build", "-n", "2", "-o", out)
    assert_one_line_error(res, str(out), "does not exist")


def test_dataset_build_checks_a_non_regular_target_before_building(tmp_path, no_build):
    out = tmp_path / "fifo.npz"
    os.mkfifo(out)
    res = invoke("dataset", "build", "-n", "2", "-o", out, "--force")
    assert_one_line_error(res, str(out), "not a regular file")


def test_import_ocb_checks_the_output_before_reading(ocb_files, tmp_path, monkeypatch):
    from cktgen_eda.data import ocb

    def refuse(*args, **kwargs):
        raise AssertionError("read the OCB files before checking --out")

    monkeypatch.setattr(ocb, "read_ocb", refuse)
    out = tmp_path / "missing" / "x.npz"
    res = invoke("dataset", "import-ocb", *ocb_files, "-o", out)
    assert_one_line_error(res, str(out), "does not exist")
