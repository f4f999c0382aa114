"""Read and write the original Open Circuit Benchmark files: igraph pickle + performance CSV.

Entry and exit of the dataset chain beside ``store.py``: ``read_ocb`` turns
``ckt_bench_{101,301}(_igraph).pkl`` + ``perform{101,301}.csv`` into a ``Benchmark``;
``write_ocb`` writes any ``Benchmark`` back in exactly that layout, so CktGNN's and CktGen's
loaders run on regenerated data (docs/benchmark.md §2.2, §2.3, §4.4). igraph is the optional
extra ``ocb`` and is imported only here, inside the functions.
"""

from __future__ import annotations

import csv
import io
import math
import pickle
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CktGenError
from ..fileio import atomic_write, check_output, read_text
from ..spec import BW_OFFSET, GAIN_OFFSET, PM_OFFSET
from ..subgraphs import N_POSITIONS, N_TYPES, SUBGRAPH_TYPES
from .ocb_graphs import device_graph, predecessor_lists, subgraph_attributes
from .store import Benchmark, measured_columns, stability_record

PICKLE_PROTOCOL = 4  # readable by the Python 3.6–3.8 environments of CktGNN/CktGen
CSV_COLUMNS = ("valid", "gain", "pm", "bw", "fom")  # after the unnamed index column
LAYOUTS = ("auto", "tuple", "flat")
TRAIN_SHARE = (4, 5)  # flat pickles: first 80 % train (301: 40,000 of 50,000, as CktGen)
INVALID_REASON = "OCB CSV: valid = 0"
_MAX_VERTICES = 127  # the store keeps node indices as int8


def _igraph(verb: str = "reading"):
    try:
        import igraph
    except ImportError:
        raise CktGenError(
            f"{verb} OCB pickles needs igraph: pip install 'cktgen-eda[ocb]'"
        ) from None
    return igraph


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


# --------------------------------------------------------------------------- reading
def read_ocb(pkl_path: str | Path, csv_path: str | Path, name: str | None = None) -> Benchmark:
    """Load an OCB pickle and its performance CSV as a ``Benchmark``.

    The pickle is read by a restricted unpickler that builds igraph graphs, numpy values and
    plain containers only; a pickle naming anything else is refused before any object is
    built, and an empty one is an error. The pickle is either a
    ``(train, test)`` tuple of lists (101 layout; the split is kept) or one flat list (301
    layout; the first 80 % are train, i.e. 40,000 of 50,000 as in CktGen). Each item is a
    ``(g_subg, g_dev)`` pair of igraph graphs (a bare ``g_subg`` is accepted); only ``g_subg``
    is read: ``type``, ``pos`` (else ``vid``, else CktGen's ``path``), the values between the
    −1 sentinels of ``subg_nfeats`` (else the integer ``r``/``c``/``gm`` slots) and the edges.
    Vertices must already be in topological order; that order is kept.

    CSV rows align with items by position; its first column is ignored. Labels are the CSV
    normalisation inverted (gain_db = (gain − 1.19531)·100, ugf_hz = (bw − 1e-5)·1e9,
    pm_deg = −(pm − 2.00001)·90); ``valid`` is taken as is, so 101's placeholder rows stay
    valid. The ``fom`` column is recomputed from these (docs/benchmark.md §4.4); the manifest counts
    rows where the CSV's own fom differs by more than 1e-6 (101 has such rows). Nothing is
    simulated, so ``stable``/``cl_stable`` are False and the manifest's ``stability`` records
    them as not measured.

    Args:
        pkl_path: ``ckt_bench_101(_igraph).pkl`` or ``ckt_bench_301(_igraph).pkl``.
        csv_path: ``perform101.csv`` or ``perform301.csv``.
        name: benchmark name; default the pickle's stem without ``_igraph``.

    Raises:
        CktGenError: igraph missing, unreadable files, malformed items (naming the item), or
            a pickle and CSV with different counts.
    """
    ig = _igraph()
    pkl_path, csv_path = Path(pkl_path), Path(csv_path)
    items, n_train, layout = _load_items(pkl_path, ig)
    table = read_perform_csv(csv_path)
    if len(items) != len(table["valid"]):
        raise CktGenError(
            f"{pkl_path} holds {len(items)} circuits but {csv_path} has {len(table['valid'])} rows"
        )
    graphs = [_parse_item(i, item, ig) for i, item in enumerate(items)]
    valid = table["valid"]
    labels = {
        "valid": valid,
        "gain_db": np.where(valid, (table["gain"] - GAIN_OFFSET) * 100, np.nan),
        "ugf_hz": np.where(valid, (table["bw"] - BW_OFFSET) * 1e9, np.nan),
        "pm_deg": np.where(valid, -(table["pm"] - PM_OFFSET) * 90, np.nan),
        "reason": np.where(valid, "", INVALID_REASON),
    }
    if name is None:
        name = pkl_path.stem.removesuffix("_igraph")
    bench = _pack(graphs, labels, n_train, name)
    bench.manifest["ocb"] = {
        "pickle": pkl_path.name,
        "csv": csv_path.name,
        "layout": layout,
        "fom_recomputed_rows": int(np.sum(~np.isclose(bench["fom"], table["fom"], 0, 1e-6))),
    }
    return bench


def read_perform_csv(path: str | Path) -> dict[str, np.ndarray]:
    """The ``valid``, ``gain``, ``pm``, ``bw``, ``fom`` columns of an OCB performance CSV.

    Raises:
        CktGenError: missing file or column, a value that is not a finite number (``nan``,
            ``inf``, ``1e400``) or a ``valid`` other than 0/1, naming the line and column.
    """
    path = Path(path)
    reader = csv.reader(io.StringIO(read_text(path)))
    try:
        header = [h.strip() for h in next(reader, [])]
        if not header:
            raise CktGenError(f"{path}: empty file, expected the header ,valid,gain,pm,bw,fom")
        missing = [c for c in CSV_COLUMNS if c not in header]
        if missing:
            raise CktGenError(f"{path}: no {missing[0]!r} column in header {','.join(header)!r}")
        index = [header.index(c) for c in CSV_COLUMNS]
        rows = [_csv_row(path, reader.line_num, row, index) for row in reader]
    except csv.Error as exc:
        raise CktGenError(f"{path} line {reader.line_num}: {_one_line(exc)}") from None
    data = np.array(rows, dtype=np.float64).reshape(-1, len(CSV_COLUMNS))
    out = {c: data[:, k] for k, c in enumerate(CSV_COLUMNS)}
    out["valid"] = out["valid"] != 0
    return out


def _csv_row(path: Path, line: int, row: list[str], index: list[int]) -> list[float]:
    """One row's ``CSV_COLUMNS`` values: finite numbers, and ``valid`` 0 or 1."""
    try:
        cells = [row[k].strip() for k in index]
        values = [_csv_number(cell) for cell in cells]
    except (IndexError, ValueError):
        found = ",".join(row)
        raise CktGenError(
            f"{path} line {line}: expected numbers in {CSV_COLUMNS}, found {found!r:.80}"
        ) from None
    for col, cell, x in zip(CSV_COLUMNS, cells, values):
        if not math.isfinite(x) or (col == "valid" and x not in (0.0, 1.0)):
            want = "0 or 1" if col == "valid" else "a finite number"
            raise CktGenError(
                f"{path} line {line}, column {col!r}: expected {want}, found {cell!r:.40}"
            )
    return values


def _csv_number(text: str) -> float:
    text = text.strip()
    return {"True": 1.0, "False": 0.0}[text] if text in ("True", "False") else float(text)


# What real OCB pickles reference: igraph graphs, and numpy scalars/arrays as attributes.
# Nothing else is ever built: a pickle naming any other callable is refused unread.
_PICKLE_GLOBALS = frozenset(
    {
        ("igraph", "Graph"),
        ("numpy", "dtype"),
        ("numpy", "ndarray"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),
    }
)


class _OcbUnpickler(pickle.Unpickler):
    """An unpickler that builds only what OCB pickles contain (``_PICKLE_GLOBALS``)."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _PICKLE_GLOBALS:
            raise _Refused(f"{module}.{name}")
        return super().find_class(module, name)


class _Refused(Exception):
    """A pickle asked for a global outside ``_PICKLE_GLOBALS``."""


def _load_items(path: Path, ig) -> tuple[list, int, str]:
    """Unpickle (restricted, see ``_OcbUnpickler``); return (items in row order, n_train,
    layout)."""
    try:
        with open(path, "rb") as fh:
            obj = _OcbUnpickler(fh).load()
    except _Refused as exc:
        raise CktGenError(
            f"{path}: refused: the pickle asks for {exc}, which OCB pickles never contain "
            "(they hold igraph graphs in plain tuples and lists); nothing was run"
        ) from None
    except FileNotFoundError:
        raise CktGenError(f"{path}: no such file") from None
    except OSError as exc:
        raise CktGenError(f"cannot read {path}: {exc.strerror or exc}") from None
    except Exception as exc:  # unpickling garbage raises almost any exception type
        raise CktGenError(
            f"{path}: not a readable pickle ({type(exc).__name__}: {_one_line(exc)})"
        ) from None

    def is_item(x: Any) -> bool:
        return isinstance(x, ig.Graph) or (
            isinstance(x, (tuple, list)) and len(x) == 2 and isinstance(x[0], ig.Graph)
        )

    if not isinstance(obj, (tuple, list)):
        raise CktGenError(
            f"{path}: expected a (train, test) tuple or a list of (g_subg, g_dev) pairs, "
            f"found {type(obj).__name__}"
        )
    if len(obj) == 2 and all(isinstance(p, (tuple, list)) and not is_item(p) for p in obj):
        items, n_train, layout = list(obj[0]) + list(obj[1]), len(obj[0]), "tuple"
    else:
        items, n_train, layout = list(obj), len(obj) * TRAIN_SHARE[0] // TRAIN_SHARE[1], "flat"
    if not items:
        raise CktGenError(f"{path}: the pickle holds no circuits")
    return items, n_train, layout


def _as_int(x: Any) -> int | None:
    if isinstance(x, bool):
        return None
    if isinstance(x, Integral):
        return int(x)
    if isinstance(x, Real) and float(x).is_integer():
        return int(x)
    return None


def _parse_item(i: int, item: Any, ig) -> tuple[list[int], list[int], list[list[float]], list]:
    """types, positions, values (component order) and sorted edges of item ``i``'s g_subg."""
    g = item[0] if isinstance(item, (tuple, list)) and len(item) == 2 else item
    where = f"item {i}"
    if not isinstance(g, ig.Graph):
        raise CktGenError(f"{where}: expected a (g_subg, g_dev) igraph pair, found {item!r:.80}")
    n = g.vcount()
    if not g.is_directed() or not 2 <= n <= _MAX_VERTICES:
        raise CktGenError(f"{where}: g_subg must be directed with 2–{_MAX_VERTICES} vertices")
    attrs = set(g.vs.attributes())
    pos_key = next((k for k in ("pos", "vid", "path") if k in attrs), None)
    if "type" not in attrs or pos_key is None:
        raise CktGenError(f"{where}: g_subg needs vertex attributes 'type' and 'pos'")
    cols = {k: g.vs[k] for k in attrs & {"subg_nfeats", "r", "c", "gm"}}
    types, positions, values = [], [], []
    for v, (t_raw, p_raw) in enumerate(zip(g.vs["type"], g.vs[pos_key])):
        t, p = _as_int(t_raw), _as_int(p_raw)
        if t is None or not 0 <= t < N_TYPES:
            raise CktGenError(f"{where} vertex {v}: 'type' must be 0–25, found {t_raw!r:.40}")
        if p is None or not 0 <= p < N_POSITIONS:
            raise CktGenError(f"{where} vertex {v}: {pos_key!r} must be 0–7, found {p_raw!r:.40}")
        types.append(t)
        positions.append(p)
        values.append(_vertex_values(f"{where} vertex {v}", t, {k: c[v] for k, c in cols.items()}))
    edges = sorted(g.get_edgelist())
    for k, (a, b) in enumerate(edges):
        if a >= b:
            raise CktGenError(f"{where}: edge ({a}, {b}) points backwards (not topological order)")
        if k and edges[k - 1] == (a, b):
            raise CktGenError(f"{where}: edge ({a}, {b}) appears twice")
    return types, positions, values, edges


def _vertex_values(where: str, t: int, attrs: dict[str, Any]) -> list[float]:
    """OCB values of one vertex: between the -1 sentinels of subg_nfeats, else r/c/gm."""
    components = SUBGRAPH_TYPES[t].components
    if not components:
        return []
    feats = attrs.get("subg_nfeats")
    if feats is not None:
        if not isinstance(feats, (list, tuple, np.ndarray)) or len(feats) != len(components) + 2:
            raise CktGenError(
                f"{where}: type {t} needs 'subg_nfeats' [-1, {len(components)} values, -1], "
                f"found {feats!r:.60}"
            )
        raw = list(feats[1:-1])
    elif all(attrs.get(k) is not None for k in components):
        raw = [attrs[k] for k in components]
    else:
        raise CktGenError(f"{where}: no 'subg_nfeats' and no {'/'.join(components)} values")
    if not all(isinstance(x, Real) and not isinstance(x, bool) and math.isfinite(x) for x in raw):
        raise CktGenError(f"{where}: device values must be finite numbers, found {raw!r:.60}")
    return [float(x) for x in raw]


def _pack(graphs: list, labels: dict, n_train: int, name: str) -> Benchmark:
    """Build the Benchmark arrays directly (no Circuit objects; values stay bit-exact)."""
    node_counts = [len(t) for t, _, _, _ in graphs]
    edge_counts = [len(e) for _, _, _, e in graphs]
    values = np.zeros((sum(node_counts), 3))
    row = 0
    topo_ids: dict[tuple, int] = {}
    topology = []
    for types, positions, vals, edges in graphs:
        for k, vs in enumerate(vals):
            values[row + k, : len(vs)] = vs
        row += len(types)
        key = (tuple(types), tuple(positions), tuple(edges))
        topology.append(topo_ids.setdefault(key, len(topo_ids)))
    arrays = {
        "node_ptr": np.concatenate([[0], np.cumsum(node_counts)]).astype(np.int64),
        "node_type": np.array([t for g in graphs for t in g[0]], dtype=np.int8),
        "node_pos": np.array([p for g in graphs for p in g[1]], dtype=np.int8),
        "node_value": values,
        "edge_ptr": np.concatenate([[0], np.cumsum(edge_counts)]).astype(np.int64),
        "edges": np.array([e for g in graphs for e in g[3]], dtype=np.int8).reshape(-1, 2),
        "topology": np.array(topology, dtype=np.int32),
    }
    arrays.update(measured_columns(labels))  # no stability verdicts: stored False
    manifest = {"name": name, "source": "ocb", "stability": stability_record(False, len(graphs))}
    return Benchmark(arrays, n_train, manifest)


# --------------------------------------------------------------------------- writing
def write_ocb(
    bench: Benchmark,
    pkl_path: str | Path,
    csv_path: str | Path,
    force: bool = False,
    layout: str = "auto",
) -> tuple[Path, Path]:
    """Write ``bench`` as an OCB igraph pickle + performance CSV (the original layout).

    Each item is a ``(g_subg, g_dev)`` pair of directed ``igraph.Graph`` objects with the
    vertex attributes of docs/benchmark.md §2.2, both re-indexed in igraph's topological order.
    ``g_dev`` is the device-level expansion of §2.1 (see ``ocb_graphs.device_graph``); its
    ``vid`` holds the owning subgraph's position. The CSV has the header ``,valid,gain,pm,bw,fom``,
    an index column 0…N−1 and the benchmark's normalised columns at full precision.

    Args:
        bench: any benchmark.
        pkl_path, csv_path: output files, both checked before any work and written
            atomically; when the CSV cannot be written, a pickle this call created is removed.
        force: replace existing files.
        layout: ``"tuple"`` = ``(train, test)`` lists (101 style), ``"flat"`` = one list
            (301 style; a reader then takes the first 80 % as train); ``"auto"`` = tuple.

    Returns:
        The two paths.

    Raises:
        CktGenError: igraph missing, unknown layout, an output whose folder is missing, that
            exists without ``force`` or is not a regular file, or one path for both.
    """
    if layout not in LAYOUTS:
        raise CktGenError(f"layout must be one of {', '.join(LAYOUTS)}, found {layout!r}")
    ig = _igraph("writing")
    pkl_path, csv_path = check_output(pkl_path, force), check_output(csv_path, force)
    if pkl_path.resolve() == csv_path.resolve():
        raise CktGenError(f"the pickle and the CSV would be the same file {pkl_path}")
    items = []
    for i in range(len(bench)):
        try:
            items.append(ocb_pair(*bench.graph(i), ig=ig))
        except CktGenError as exc:
            raise CktGenError(f"row {i}: {exc}") from None
    obj: Any = items if layout == "flat" else (items[: bench.n_train], items[bench.n_train :])
    table = perform_csv(bench)
    created = not pkl_path.exists()
    atomic_write(pkl_path, pickle.dumps(obj, protocol=PICKLE_PROTOCOL), force=force)
    try:
        atomic_write(csv_path, table, force=force)
    except BaseException:
        if created:  # all or nothing: a pickle without its CSV is no OCB dataset
            pkl_path.unlink(missing_ok=True)
        raise
    return pkl_path, csv_path


def perform_csv(bench: Benchmark) -> str:
    """The benchmark's labels as OCB performance-CSV text (invalid rows hold the offsets)."""
    lines = [",valid," + ",".join(CSV_COLUMNS[1:])]
    cols = [bench[c].tolist() for c in CSV_COLUMNS[1:]]
    for i, ok in enumerate(bench["valid"].tolist()):
        lines.append(f"{i},{int(ok)}," + ",".join(repr(float(col[i])) for col in cols))
    return "\n".join(lines) + "\n"


def ocb_pair(types, positions, values, edges, ig=None) -> tuple[Any, Any]:
    """``(g_subg, g_dev)`` igraph graphs of one circuit given as ``Benchmark.graph`` arrays.

    Shapes:
        types, positions: [n]; values: [n, 3] (OCB values, component order); edges: [e, 2].
    """
    ig = ig or _igraph()
    types, positions = [int(t) for t in types], [int(p) for p in positions]
    values = [list(map(float, v)) for v in values]
    edges = [(int(a), int(b)) for a, b in edges]
    n = len(types)
    preds = predecessor_lists(n, positions, edges)
    per_vertex = [
        subgraph_attributes(t, v[: len(SUBGRAPH_TYPES[t].components)])
        for t, v in zip(types, values)
    ]
    attrs = {"type": types, "pos": positions, "vid": positions}
    for key in ("subg_ntypes", "subg_nfeats", "subg_adj", "r", "c", "gm"):
        attrs[key] = [a[key] for a in per_vertex]
    g_subg = _sorted_graph(ig, preds, attrs)
    dev_type, dev_feat, dev_vid, dev_pred = device_graph(types, positions, values, edges, preds)
    g_dev = _sorted_graph(ig, dev_pred, {"type": dev_type, "feat": dev_feat, "vid": dev_vid})
    return g_subg, g_dev


def _sorted_graph(ig, preds: list[list[int]], attrs: dict[str, list]):
    """A directed graph re-indexed in igraph's topological order (as the OCB loader does):
    vertices in that order, edges added per head vertex, tails in predecessor-list order."""
    n = len(preds)
    edges = [(p, v) for v, ps in enumerate(preds) for p in ps]
    order = ig.Graph(n=n, edges=edges, directed=True).topological_sorting()
    if len(order) != n:
        raise CktGenError("the circuit graph has a cycle")
    new = {old: k for k, old in enumerate(order)}
    sorted_edges = [(new[p], k) for k, old in enumerate(order) for p in preds[old]]
    sorted_attrs = {key: [col[old] for old in order] for key, col in attrs.items()}
    return ig.Graph(n=n, edges=sorted_edges, directed=True, vertex_attrs=sorted_attrs)
