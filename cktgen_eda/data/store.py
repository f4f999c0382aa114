"""Labelled benchmarks in memory and on disk (the ``.npz`` format of docs/datasets.md).

Last step of the dataset chain: circuits + ngspice labels + split → one compressed file. A
``Benchmark`` keeps everything as flat numpy arrays (nodes and edges in CSR layout, one label
row per circuit), so loading 50,000 circuits takes milliseconds; ``circuit(i)`` builds a
``Circuit`` on demand. The file is a zip of ``.npy`` members plus ``manifest.json``, written
with fixed timestamps and member order, so the same content gives the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import stat
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..circuit import Circuit, Node
from ..errors import CktGenError
from ..fileio import atomic_write
from ..spec import BW_OFFSET, FOM_OFFSET, GAIN_OFFSET, PM_OFFSET, raw_fom
from ..subgraphs import N_POSITIONS, N_TYPES, SUBGRAPH_TYPES

FORMAT = "cktgen-eda/benchmark"
VERSION = 2  # 2: + the stability columns ``stable``, ``cl_stable``, ``pm_loop_deg``
SUFFIX = ".npz"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_MAX_MANIFEST = 2**20  # bytes; real manifests are about 2 kB
_INFLATE = 1032  # deflate's largest compression ratio: bounds what a member can decompress to
# What zipfile, zlib, json and numpy raise on broken bytes; RuntimeError covers encrypted
# members and JSON nested past the recursion limit.
_UNREADABLE = (OSError, EOFError, KeyError, ValueError, RuntimeError, NotImplementedError)
_UNREADABLE += (zipfile.BadZipFile, zlib.error)
_NPY_HEADERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}

# Member name → dtype. Order is the on-disk order and the order the content hash reads.
STRUCTURE = {
    "node_ptr": np.int64,  # [N+1] circuit i owns nodes node_ptr[i]:node_ptr[i+1]
    "node_type": np.int8,  # [M] subgraph type 0–25
    "node_pos": np.int8,  # [M] OCB position 0–7
    "node_value": np.float64,  # [M, 3] OCB feature values in the type's component order, 0-padded
    "edge_ptr": np.int64,  # [N+1] circuit i owns edges edge_ptr[i]:edge_ptr[i+1]
    "edges": np.int8,  # [E, 2] (tail, head), node indices local to the circuit
    "topology": np.int32,  # [N] topology id (circuits sharing it differ only in values); -1 unknown
}
LABELS = {
    "valid": np.bool_,  # [N] gain, UGF and PM all measured
    "gain_db": np.float64,  # [N] gain at 1 Hz (NaN when not measured)
    "ugf_hz": np.float64,  # [N] unity-gain frequency (NaN when invalid)
    "pm_deg": np.float64,  # [N] phase margin in (−180, 180] (NaN when invalid)
    "fom_raw": np.float64,  # [N] raw FoM (NaN when invalid)
    "gain": np.float64,  # [N] CSV-normalised columns; invalid rows hold the offsets (raw 0)
    "bw": np.float64,
    "pm": np.float64,
    "fom": np.float64,
    "gain_cls": np.int16,  # [N] class = floor of the normalised column; invalid rows (0, 0, 0)
    "bw_cls": np.int16,
    "pm_cls": np.int16,
    "reason": np.str_,  # [N] why a row is invalid ("" when valid)
    "stable": np.bool_,  # [N] every open-loop pole in the left half plane (unknown: False)
    "cl_stable": np.bool_,  # [N] stable in unity-gain negative feedback (unknown: False)
    "pm_loop_deg": np.float64,  # [N] phase margin of that loop, worst crossing (NaN: none)
}
_TRAILING = {"node_value": (3,), "edges": (2,)}  # shape after the first axis; others are 1-D
COLUMNS = {**STRUCTURE, **LABELS}
STABILITY = ("stable", "cl_stable")  # absent from version-1 files


def label_columns(
    gain_db: np.ndarray, ugf_hz: np.ndarray, pm_deg: np.ndarray, valid: np.ndarray
) -> dict[str, np.ndarray]:
    """Derived label columns (raw FoM, CSV-normalised values, classes) from the measurements.

    Invalid rows follow the OCB CSVs (raw zeros, so the normalised columns hold the fixed
    offsets) and CktGen's loader (class (0, 0, 0)), docs/benchmark.md §4.4 and §5.1.
    """
    valid = np.asarray(valid, dtype=bool)
    g = np.where(valid, gain_db, 0.0)
    u = np.where(valid, ugf_hz, 0.0)
    p = np.where(valid, pm_deg, 0.0)
    out = {
        "fom_raw": np.where(valid, raw_fom(g, u, p), np.nan),
        "gain": g / 100 + GAIN_OFFSET,
        "bw": u / 1e9 + BW_OFFSET,
        "pm": -p / 90 + PM_OFFSET,
        "fom": np.where(valid, raw_fom(g, u, p), 0.0) + FOM_OFFSET,
    }
    # Gain class 0 is the open bottom bin (gain < −19.5 dB), so a rare gain below −119.5 dB,
    # whose floor would be −1, is class 0 too. PM keeps its floor: imported OCB-101 rows with
    # unwrapped PM > 180° get pm < 0 and are dropped by CktGen's cleaning on the pm column.
    for col in ("gain", "bw", "pm"):
        cls = np.floor(out[col])
        if col == "gain":
            cls = np.maximum(cls, 0)
        out[f"{col}_cls"] = np.where(valid, cls, 0).astype(np.int16)
    return out


@dataclass
class Benchmark:
    """A labelled set of OCB circuits with a train/test split (rows ``:n_train`` are train).

    Attributes:
        arrays: the ``COLUMNS`` arrays (see there for shapes).
        n_train: rows ``0 … n_train-1`` are the training split, the rest the test split.
        manifest: provenance (recipe, seed, counts, simulator, sha256, …), JSON-serialisable.
    """

    arrays: dict[str, np.ndarray]
    n_train: int
    manifest: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [k for k in COLUMNS if k not in self.arrays]
        if missing:
            raise CktGenError(f"benchmark is missing column {missing[0]!r}")
        n = len(self)
        for key in LABELS | {"topology": None}:
            if len(self.arrays[key]) != n:
                raise CktGenError(f"column {key!r} has {len(self.arrays[key])} rows, expected {n}")
        if not 0 <= self.n_train <= n:
            raise CktGenError(f"n_train must be 0…{n}, found {self.n_train}")

    # ---------------------------------------------------------------- access
    def __len__(self) -> int:
        return len(self.arrays["node_ptr"]) - 1

    def __getitem__(self, key: str) -> np.ndarray:
        return self.arrays[key]

    @property
    def name(self) -> str:
        return str(self.manifest.get("name", "benchmark"))

    @property
    def n_test(self) -> int:
        return len(self) - self.n_train

    def split_rows(self, split: str) -> np.ndarray:
        """Row indices of ``"train"``, ``"test"`` or ``"all"``."""
        ranges = {
            "train": (0, self.n_train),
            "test": (self.n_train, len(self)),
            "all": (0, len(self)),
        }
        if split not in ranges:
            raise CktGenError(f"split must be train, test or all, found {split!r}")
        return np.arange(*ranges[split])

    def graph(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Raw arrays of circuit ``i``: types [n], positions [n], values [n, 3], edges [e, 2]."""
        a, b = self.arrays["node_ptr"][i : i + 2]
        c, d = self.arrays["edge_ptr"][i : i + 2]
        return (
            self.arrays["node_type"][a:b],
            self.arrays["node_pos"][a:b],
            self.arrays["node_value"][a:b],
            self.arrays["edges"][c:d],
        )

    def circuit(self, i: int, with_spec: bool = True) -> Circuit:
        """Circuit ``i`` (nodes already in topological order); ``spec`` holds its labels."""
        types, positions, values, edges = self.graph(i)
        nodes = []
        for t, p, v in zip(types.tolist(), positions.tolist(), values.tolist()):
            k = len(SUBGRAPH_TYPES[t].components)
            nodes.append(Node.from_ocb(t, p, (_clean(x) for x in v[:k])))
        spec = None
        if with_spec and self.arrays["valid"][i]:
            spec = {k: float(self.arrays[k][i]) for k in ("gain_db", "ugf_hz", "pm_deg")}
        meta = {"dataset": self.name, "row": int(i)}
        return Circuit(tuple(nodes), tuple(map(tuple, edges.tolist())), spec, meta)

    def circuits(self, rows: Sequence[int] | None = None) -> Iterator[Circuit]:
        for i in range(len(self)) if rows is None else rows:
            yield self.circuit(int(i))

    # ------------------------------------------------------------ building
    @classmethod
    def from_circuits(
        cls,
        circuits: Sequence[Circuit],
        labels: dict[str, np.ndarray],
        n_train: int,
        topology: Sequence[int] | None = None,
        manifest: dict[str, Any] | None = None,
    ) -> Benchmark:
        """Pack circuits (topologically ordered) and their ``valid``/``gain_db``/``ugf_hz``/
        ``pm_deg``/``reason``/``stable``/``cl_stable`` labels; the derived columns are computed
        here. Without ``stable`` and ``cl_stable`` the manifest records stability as not
        measured (see ``stability_record``)."""
        n_nodes = [len(c.nodes) for c in circuits]
        n_edges = [len(c.edges) for c in circuits]
        values = np.zeros((sum(n_nodes), 3))
        types, positions, edges = [], [], []
        row = 0
        for c in circuits:
            for node in c.nodes:
                types.append(node.type)
                positions.append(node.pos)
                ocb = node.ocb_values()
                values[row, : len(ocb)] = ocb
                row += 1
            edges.extend(c.edges)
        arrays = {
            "node_ptr": np.concatenate([[0], np.cumsum(n_nodes)]).astype(np.int64),
            "node_type": np.array(types, dtype=np.int8),
            "node_pos": np.array(positions, dtype=np.int8),
            "node_value": values,
            "edge_ptr": np.concatenate([[0], np.cumsum(n_edges)]).astype(np.int64),
            "edges": np.array(edges, dtype=np.int8).reshape(-1, 2),
            "topology": np.asarray(
                topology if topology is not None else [-1] * len(circuits), dtype=np.int32
            ),
        }
        arrays.update(measured_columns(labels))
        manifest = dict(manifest or {})
        measured = all(k in labels for k in STABILITY)
        unknown = 0 if measured else len(circuits)
        manifest.setdefault("stability", stability_record(measured, unknown))
        return cls(arrays, n_train, manifest)

    def content_sha256(self) -> str:
        """sha256 over every column's dtype, shape and bytes, in ``COLUMNS`` order."""
        h = hashlib.sha256()
        for key in COLUMNS:
            a = np.ascontiguousarray(self.arrays[key])
            h.update(f"{key}:{a.dtype.str}:{a.shape}\n".encode())
            h.update(a.tobytes())
        return h.hexdigest()

    def counts(self) -> dict[str, int]:
        return {
            "circuits": len(self),
            "train": self.n_train,
            "test": self.n_test,
            "valid": int(self.arrays["valid"].sum()),
            "topologies": len(np.unique(self.arrays["topology"])),
        }


def unlabelled(circuits: Sequence[Circuit]) -> Benchmark:
    """Circuits packed as a benchmark without measurements (all-train, placeholder labels;
    ``stable``/``cl_stable`` False), e.g. to turn generated circuits into model tensors."""
    n = len(circuits)
    labels = {
        "valid": np.ones(n, bool),
        "gain_db": np.zeros(n),
        "ugf_hz": np.ones(n),
        "pm_deg": np.zeros(n),
    }
    return Benchmark.from_circuits(circuits, labels, n, manifest={"name": "unlabelled"})


def stability_record(measured: bool, unknown_rows: int) -> dict[str, Any]:
    """The manifest's ``stability`` entry: whether ``stable``/``cl_stable`` were measured,
    and how many rows had an unknown verdict (stored as False)."""
    return {"measured": bool(measured), "unknown_rows": int(unknown_rows)}


def stability_measured(manifest: dict[str, Any]) -> bool:
    """True when the ``stable``/``cl_stable`` columns hold measured verdicts."""
    return bool((manifest.get("stability") or {}).get("measured"))


def measured_columns(labels: dict[str, Any]) -> dict[str, np.ndarray]:
    """All ``LABELS`` columns from ``valid``, ``gain_db``, ``ugf_hz``, ``pm_deg`` and the
    optional ``reason`` (""), ``stable``/``cl_stable`` (False; None, unknown, is False) and
    ``pm_loop_deg`` (NaN)."""
    valid = np.asarray(labels["valid"], dtype=bool)
    out = {
        "valid": valid,
        "gain_db": np.asarray(labels["gain_db"], dtype=np.float64),
        "ugf_hz": np.where(valid, np.asarray(labels["ugf_hz"], dtype=np.float64), np.nan),
        "pm_deg": np.where(valid, np.asarray(labels["pm_deg"], dtype=np.float64), np.nan),
        "reason": np.asarray(labels.get("reason", [""] * len(valid)), dtype=np.str_),
    }
    for key in STABILITY:
        out[key] = np.asarray(labels.get(key, np.zeros(len(valid), bool)), dtype=bool)
    loop = labels.get("pm_loop_deg")
    out["pm_loop_deg"] = (
        np.full(len(valid), np.nan) if loop is None else np.asarray(loop, dtype=np.float64)
    )
    out.update(label_columns(out["gain_db"], out["ugf_hz"], out["pm_deg"], valid))
    return out


def _clean(x: float) -> float:
    """Undo float noise on 0.1-grid values (38.2 stays 38.2 after float round trips)."""
    r = round(x, 6)
    return r if math.isclose(r, x, rel_tol=0, abs_tol=1e-9) else x


# ---------------------------------------------------------------------- files
def write_benchmark(bench: Benchmark, path: str | Path, force: bool = False) -> Path:
    """Write ``bench`` atomically; the manifest gets counts, split and the content sha256."""
    manifest = dict(bench.manifest)
    manifest.update(
        format=FORMAT,
        version=VERSION,
        counts=bench.counts(),
        split={"train": [0, bench.n_train], "test": [bench.n_train, len(bench)]},
        sha256=bench.content_sha256(),
    )
    bench.manifest = manifest
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in COLUMNS:
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(bench.arrays[key]))
            _put(zf, f"{key}.npy", member.getvalue())
        _put(zf, "manifest.json", json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n")
    return atomic_write(path, buf.getvalue(), force=force)


def _put(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data, compresslevel=9)


def read_benchmark(path: str | Path, check: bool = True) -> Benchmark:
    """Load a benchmark file; every way a file can be broken is one ``CktGenError``.

    Each ``.npy`` header is checked against its column's dtype and the member's size before
    anything is allocated, and the arrays are checked to index only inside themselves.

    Raises:
        CktGenError: when the file is missing, not a regular file, not a benchmark, of another
            format version (version 1 has no ``stable``/``cl_stable`` columns), lacks or has
            a malformed column or manifest entry, or (``check``) its content does not match
            the sha256 in its manifest.
    """
    path = Path(path)
    try:
        size = _regular_size(path)
        with zipfile.ZipFile(path) as zf:
            manifest = _read_manifest(path, zf)
            arrays = {key: _read_column(path, zf, key, size) for key in COLUMNS}
    except CktGenError:
        raise
    except _UNREADABLE as exc:
        why = " ".join(str(exc).split())[:160]  # one line, even for numpy's header reprs
        raise CktGenError(f"{path}: not a readable benchmark file ({why})") from None
    try:
        bench = Benchmark(arrays, manifest["split"]["train"][1], manifest)
        _check_structure(bench)
    except CktGenError as exc:
        raise CktGenError(f"{path}: {exc}") from None
    counts = bench.counts()
    if manifest.get("counts", counts) != counts:
        raise CktGenError(f"{path}: manifest counts do not match the arrays")
    if check and bench.content_sha256() != manifest.get("sha256"):
        raise CktGenError(f"{path}: content does not match the sha256 in its manifest")
    return bench


def _regular_size(path: Path) -> int:
    """Size of ``path``; a missing file, a folder or a FIFO is an error (never opened)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise CktGenError(f"{path}: no such file") from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise CktGenError(f"{path}: is {kind}, not a benchmark file")
    return st.st_size


def _read_manifest(path: Path, zf: zipfile.ZipFile) -> dict[str, Any]:
    info = zf.getinfo("manifest.json")
    if info.file_size > _MAX_MANIFEST:
        raise CktGenError(f"{path}: manifest.json is {info.file_size:,} bytes, over the limit")
    manifest = json.loads(zf.read(info))
    _check_manifest(path, manifest)
    return manifest


def _read_column(path: Path, zf: zipfile.ZipFile, key: str, archive_size: int) -> np.ndarray:
    """One ``.npy`` member; its header must match the column's dtype and the member's size."""
    name = f"{key}.npy"
    if name not in zf.namelist():
        raise CktGenError(f"{path}: benchmark has no {key!r} column")
    info = zf.getinfo(name)
    if info.compress_size > archive_size or info.file_size > _INFLATE * info.compress_size + 64:
        raise CktGenError(
            f"{path}: member {name} claims {info.file_size:,} bytes, more than its "
            f"{info.compress_size:,} compressed bytes can hold"
        )
    with zf.open(info) as f:
        header = _NPY_HEADERS.get(np.lib.format.read_magic(f))
        if header is None:
            raise CktGenError(f"{path}: column {key!r} is not a version 1 or 2 .npy member")
        shape, _, dtype = header(f)
        data_bytes = info.file_size - f.tell()
    want = np.dtype(COLUMNS[key])
    if dtype.kind != want.kind or (want.kind != "U" and dtype != want):
        raise CktGenError(f"{path}: column {key!r} has dtype {dtype}, expected {want}")
    if shape[1:] != _TRAILING.get(key, ()) or math.prod(shape) * dtype.itemsize != data_bytes:
        raise CktGenError(
            f"{path}: column {key!r} claims shape {shape}, which does not fit its "
            f"{data_bytes:,} data bytes"
        )
    with zf.open(info) as f:
        return np.lib.format.read_array(f, allow_pickle=False)


def _check_structure(bench: Benchmark) -> None:
    """Refuse pointers, node types, positions or edges that index out of range."""
    a = bench.arrays
    n_nodes = len(a["node_type"])
    for key, rows in (("node_ptr", n_nodes), ("edge_ptr", len(a["edges"]))):
        ptr = a[key]
        ends = len(ptr) == len(bench) + 1 and ptr[0] == 0 and ptr[-1] == rows
        if not ends or (ptr[1:] < ptr[:-1]).any():
            raise CktGenError(f"{key} must rise from 0 to {rows} in {len(bench) + 1} entries")
    if not len(a["node_pos"]) == len(a["node_value"]) == n_nodes:
        raise CktGenError(f"node_pos and node_value must have {n_nodes} rows, one per node")
    per_edge = np.repeat(np.diff(a["node_ptr"]), np.diff(a["edge_ptr"]))[:, None]
    for key, high in (("node_type", N_TYPES), ("node_pos", N_POSITIONS), ("edges", per_edge)):
        if ((a[key] < 0) | (a[key] >= high)).any():
            raise CktGenError(f"column {key!r} holds values outside its range")


def _check_manifest(path: Path, manifest: Any) -> None:
    """Refuse manifests of other formats and versions or without a split, one line each."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise CktGenError(f"{path}: not a cktgen-eda benchmark (format {found!r})")
    version = manifest.get("version")
    if version == 1:
        redo = "import-ocb" if manifest.get("source") == "ocb" else "build"
        raise CktGenError(
            f"{path}: benchmark version 1 has no {STABILITY[0]!r} or {STABILITY[1]!r} column "
            f"(added in version {VERSION}); recreate it with `cktgen-eda dataset {redo}`"
        )
    if version != VERSION:
        raise CktGenError(f"{path}: benchmark version {version!r}, expected {VERSION}")
    for key in ("split", "counts", "recipe", "stability"):
        if not isinstance(manifest.get(key, {}), dict):
            raise CktGenError(f"{path}: manifest entry {key!r} must be an object")
    train = manifest.get("split", {}).get("train")
    if not (isinstance(train, list) and len(train) == 2 and type(train[1]) is int):
        raise CktGenError(f'{path}: manifest has no split "train": [0, N_TRAIN]')


def shipped_benchmarks() -> dict[str, Path]:
    """Benchmarks shipped in the package (``cktgen_eda/datasets/*.npz``), by name."""
    folder = resources.files("cktgen_eda").joinpath("datasets")
    if not folder.is_dir():
        return {}
    return {Path(p.name).stem: Path(str(p)) for p in folder.iterdir() if p.name.endswith(SUFFIX)}


def load_benchmark(name_or_path: str | Path, check: bool = True) -> Benchmark:
    """Load a shipped benchmark by name (``ocb101``) or any benchmark file by path."""
    shipped = shipped_benchmarks()
    if str(name_or_path) in shipped:
        return read_benchmark(shipped[str(name_or_path)], check)
    path = Path(name_or_path)
    if path.suffix != SUFFIX and not path.exists():
        known = ", ".join(sorted(shipped)) or "none"
        raise CktGenError(f"no benchmark named {str(name_or_path)!r} (shipped: {known})")
    return read_benchmark(path, check)
