"""OCB pickle + CSV reader/writer (cktgen_eda.data.ocb): round trips, golden attributes, errors."""

from __future__ import annotations

import csv
import pickle
import random
import sys

import numpy as np
import pytest
from helpers import DATA

from cktgen_eda.circuit import Node, from_graph
from cktgen_eda.data.generator import generate
from cktgen_eda.data.ocb import ocb_pair, read_ocb, write_ocb
from cktgen_eda.data.ocb_graphs import SUBG_ADJ, device_types, subgraph_attributes
from cktgen_eda.data.store import Benchmark
from cktgen_eda.errors import CktGenError
from cktgen_eda.subgraphs import SUBGRAPH_TYPES

igraph = pytest.importorskip("igraph")

PERFORM101 = DATA / "perform101.csv"  # the original, all 10,000 rows
NORMALISED = ("gain", "pm", "bw", "fom")
RAW = ("gain_db", "ugf_hz", "pm_deg")


def make_bench(n: int = 300, n_train: int = 250, seed: int = 0) -> Benchmark:
    """Generated circuits with synthetic labels (no ngspice); about 10 % invalid rows."""
    rows = list(generate(random.Random(seed), n, reuse=20))
    r = np.random.default_rng(seed)
    valid = r.random(n) > 0.1
    labels = {
        "valid": valid,
        "gain_db": np.where(valid, r.uniform(-100, 240, n), np.nan),
        "ugf_hz": r.uniform(0, 3e10, n),
        "pm_deg": r.uniform(-180, 180, n),
        "reason": np.where(valid, "", "no unity-gain crossing"),
    }
    circuits = [c for _, c in rows]
    return Benchmark.from_circuits(circuits, labels, n_train, [t for t, _ in rows], {"name": "t"})


@pytest.fixture(scope="module")
def bench() -> Benchmark:
    return make_bench()


@pytest.fixture(scope="module")
def written(bench, tmp_path_factory):
    d = tmp_path_factory.mktemp("ocb")
    pkl, out_csv = write_ocb(bench, d / "ckt_bench_t_igraph.pkl", d / "perform_t.csv")
    return pkl, out_csv


def assert_same(a: Benchmark, b: Benchmark) -> None:
    assert len(a) == len(b)
    for i in range(len(a)):
        assert a.circuit(i, with_spec=False) == b.circuit(i, with_spec=False), i
    for key in ("node_type", "node_pos", "node_value", "edges", "valid"):
        np.testing.assert_array_equal(a[key], b[key])
    for key in NORMALISED:
        np.testing.assert_allclose(a[key], b[key], rtol=0, atol=1e-9)
    ok = a["valid"]
    np.testing.assert_allclose(a["gain_db"][ok], b["gain_db"][ok], rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(a["pm_deg"][ok], b["pm_deg"][ok], rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(a["ugf_hz"][ok], b["ugf_hz"][ok], rtol=1e-12, atol=1e-3)
    for key in ("gain_cls", "bw_cls", "pm_cls"):
        np.testing.assert_array_equal(a[key], b[key])


# ------------------------------------------------------------------------ round trips
def test_round_trip_tuple_layout(bench, written):
    pkl, out_csv = written
    back = read_ocb(pkl, out_csv)
    assert_same(bench, back)
    assert back.n_train == bench.n_train
    assert back.name == "ckt_bench_t"
    assert back.manifest["ocb"] == {
        "pickle": pkl.name,
        "csv": out_csv.name,
        "layout": "tuple",
        "fom_recomputed_rows": 0,
    }
    assert set(back["reason"][~back["valid"]]) == {"OCB CSV: valid = 0"}
    # OCB files carry no stability: stored False, recorded as not measured
    assert not back["stable"].any() and not back["cl_stable"].any()
    assert back.manifest["stability"] == {"measured": False, "unknown_rows": len(back)}
    # Circuits sharing a topology get one id (K = 20 reuse blocks of the generator).
    first = {}
    for t_in, t_out in zip(bench["topology"].tolist(), back["topology"].tolist()):
        first.setdefault(t_in, t_out)
        assert first[t_in] == t_out


def test_round_trip_flat_layout(bench, tmp_path):
    pkl, out_csv = write_ocb(bench, tmp_path / "b.pkl", tmp_path / "b.csv", layout="flat")
    with open(pkl, "rb") as fh:
        obj = pickle.load(fh)
    assert isinstance(obj, list) and len(obj) == len(bench)
    back = read_ocb(pkl, out_csv, name="flat")
    assert_same(bench, back)
    assert back.n_train == len(bench) * 4 // 5
    assert back.manifest["ocb"]["layout"] == "flat"


def test_pickle_layout_matches_original(bench, written):
    pkl, out_csv = written
    data = pkl.read_bytes()
    assert data[:2] == b"\x80\x04"  # protocol 4
    train, test = pickle.loads(data)
    assert isinstance(train, list) and isinstance(test, list)
    assert (len(train), len(test)) == (bench.n_train, len(bench) - bench.n_train)
    g_subg, g_dev = train[0]
    assert g_subg.is_directed() and g_dev.is_directed()
    assert set(g_subg.vs.attributes()) == {
        "type", "pos", "vid", "subg_ntypes", "subg_nfeats", "subg_adj", "r", "c", "gm"
    }  # fmt: skip
    assert set(g_dev.vs.attributes()) == {"type", "feat", "vid"}
    assert g_subg.attributes() == [] and g_dev.attributes() == []
    rows = list(csv.reader(out_csv.open()))
    assert rows[0] == ["", "valid", "gain", "pm", "bw", "fom"]
    assert [r[0] for r in rows[1:]] == [str(i) for i in range(len(bench))]
    assert {r[1] for r in rows[1:]} == {"0", "1"}
    bad = int(np.flatnonzero(~bench["valid"])[0])
    assert rows[bad + 1][2:] == ["1.19531", "2.00001", "1e-05", "3.20001"]
    good = int(np.flatnonzero(bench["valid"])[0])
    assert float(rows[good + 1][2]) == bench["gain"][good]  # full precision


def test_device_graphs_of_every_item(bench, written):
    train, test = pickle.loads(written[0].read_bytes())
    for i, (g_subg, g_dev) in enumerate(train + test):
        types, positions, values, edges = bench.graph(i)
        n_comp = sum(len(SUBGRAPH_TYPES[t].components) for t in types.tolist())
        assert g_dev.vcount() == 2 + n_comp
        assert g_dev.vs[0]["type"] == 8 and g_dev.vs[g_dev.vcount() - 1]["type"] == 9
        assert all(a < b for a, b in g_dev.get_edgelist())  # re-indexed topologically
        assert g_dev.topological_sorting() == list(range(g_dev.vcount()))
        assert g_subg.vs["type"] == types.tolist()
        assert sorted(g_subg.get_edgelist()) == [tuple(e) for e in edges.tolist()]
        assert g_subg.vs["vid"] == g_subg.vs["pos"] == positions.tolist()
        assert g_subg.vs[0]["subg_nfeats"] == [0.0] and g_subg.vs[0]["subg_ntypes"] == [8]


# ----------------------------------------------------------------- golden attributes
@pytest.mark.parametrize(
    "type_id, rows",
    [
        (2, ["010", "101", "010"]),
        (7, ["010", "101", "010"]),
        (4, ["0100", "1010", "0101", "0010"]),
        (5, ["0110", "1001", "0101", "0110"]),
        (14, ["0110", "1001", "0101", "0110"]),
        (22, ["01000", "10100", "01010", "00101", "00010"]),
        (18, ["01110", "10001", "01001", "00101", "01110"]),
        (0, ["1"]),
        (1, ["1"]),
    ],
)
def test_subg_adj_golden(type_id, rows):
    n = len(SUBGRAPH_TYPES[type_id].components)
    adj = subgraph_attributes(type_id, [1.0] * n)["subg_adj"]
    assert adj == [int(ch) for row in rows for ch in row]


def test_subg_adj_table_keeps_the_non_symmetric_rows():
    for key, symmetric in [
        (("parallel", 2), False),
        (("parallel", 3), False),
        (("series", 3), True),
    ]:
        m = int(len(SUBG_ADJ[key]) ** 0.5)
        a = np.array(SUBG_ADJ[key]).reshape(m, m)
        assert (a == a.T).all() == symmetric


@pytest.mark.parametrize(
    "type_id, values, ntypes, slots",
    [
        (0, (), [8], (0, 0, 0)),
        (1, (), [9], (0, 0, 0)),
        (4, (38.2, 2.8), [6, 0, 1, 7], (38, 2, 0)),
        (11, (0.5, 99.9), [6, 1, 3, 7], (0, 0, 99)),
        (17, (10.0, 7.3), [6, 0, 5, 7], (10, 0, 7)),
        (18, (38.2, 2.8, 100.0), [6, 1, 0, 2, 7], (2, 38, 100)),
        (24, (1.1, 2.2, 3.3), [6, 1, 0, 4, 7], (2, 1, 3)),
    ],
)
def test_subgraph_vertex_golden(type_id, values, ntypes, slots):
    attrs = subgraph_attributes(type_id, values)
    assert attrs["subg_ntypes"] == ntypes
    feats = [0.0] if not values else [-1.0, *values, -1.0]
    assert attrs["subg_nfeats"] == feats
    assert all(type(x) is float for x in attrs["subg_nfeats"])
    assert (attrs["r"], attrs["c"], attrs["gm"]) == slots


def test_gm_device_variants():
    assert [device_types(t)[-1] for t in range(6, 26)] == [2, 3, 4, 5] * 5


def hand_circuit():
    """2-stage: S1 = C paral +gm+, S2 = -gm+, pos 6 = R serie C (S1 → P → Out), pos 5 = R
    (In → X → Out); built in generator index order and FIFO-sorted as the pickles are."""
    nodes = [
        Node(0, 0),
        Node(1, 1),
        Node.from_ocb(10, 2, (11.0, 12.0)),
        Node.from_ocb(7, 3, (13.0,)),
        Node.from_ocb(2, 5, (14.0,)),
        Node.from_ocb(4, 6, (15.0, 16.0)),
    ]
    edges = [(0, 2), (2, 3), (3, 1), (2, 5), (5, 1), (0, 4), (4, 1)]
    return from_graph(nodes, edges)


def single(circuit) -> Benchmark:
    """A one-row benchmark of ``circuit`` (labels irrelevant)."""
    labels = {"valid": [True], "gain_db": [1.0], "ugf_hz": [1.0], "pm_deg": [1.0]}
    return Benchmark.from_circuits([circuit], labels, 1)


def test_device_graph_hand_example():
    c = hand_circuit()
    assert [(n.type, n.pos) for n in c.nodes] == [(0, 0), (10, 2), (2, 5), (7, 3), (4, 6), (1, 1)]
    g_subg, g_dev = ocb_pair(*single(c).graph(0))
    assert g_subg.vs["type"] == [0, 10, 2, 7, 4, 1]
    assert g_subg.vs[4]["subg_adj"] == SUBG_ADJ[("series", 2)]
    # Layout In, S1, S2, P, X, Out → devices In, C, gm, gm, R, C, R, Out; Kahn-FIFO moves
    # X's R ahead of S2's gm (worked by hand from docs/benchmark.md §2.1/§2.2).
    assert g_dev.vs["type"] == [8, 1, 2, 0, 3, 0, 1, 9]
    assert g_dev.vs["feat"] == [0.0, 11.0, 12.0, 14.0, 13.0, 15.0, 16.0, 0.0]
    assert g_dev.vs["vid"] == [0, 2, 2, 5, 3, 6, 6, 1]
    assert sorted(g_dev.get_edgelist()) == [
        (0, 1), (0, 2), (0, 3), (1, 4), (1, 5), (2, 4), (2, 5), (3, 7), (4, 7), (5, 6), (6, 7)
    ]  # fmt: skip


# ------------------------------------------------------------------- reading variants
def _pair(types, positions, edges, **attrs):
    g = igraph.Graph(n=len(types), edges=edges, directed=True)
    g.vs["type"] = types
    g.vs["pos"] = positions
    for key, col in attrs.items():
        g.vs[key] = col
    return (g, igraph.Graph(directed=True))


def _write(tmp_path, obj, n=None, name="x"):
    pkl, out_csv = tmp_path / f"{name}.pkl", tmp_path / f"{name}.csv"
    pkl.write_bytes(pickle.dumps(obj, protocol=4))
    n = len(obj) if n is None else n
    lines = [",valid,gain,pm,bw,fom"] + [f"{i},1,2.0,1.0,3.5,40.0" for i in range(n)]
    out_csv.write_text("\n".join(lines) + "\n")
    return pkl, out_csv


def test_reads_vid_and_integer_slots_without_subg_nfeats(tmp_path):
    g, _ = _pair([0, 18, 1], [0, 2, 1], [(0, 1), (1, 2)], r=[0, 7, 0], c=[0, 3, 0], gm=[0, 9, 0])
    del g.vs["pos"]
    g.vs["vid"] = [0, 2, 1]
    back = read_ocb(*_write(tmp_path, [(g, None)]))
    assert back.graph(0)[2].tolist() == [[0, 0, 0], [3.0, 7.0, 9.0], [0, 0, 0]]
    assert back["gain_db"][0] == pytest.approx(80.469)
    assert back["pm_deg"][0] == pytest.approx(90.0009)
    assert back["ugf_hz"][0] == pytest.approx(3.49999e9)
    assert back.n_train == 0  # 80 % of one item


def test_aligns_with_perform101_csv(tmp_path):
    pair = ocb_pair(*single(hand_circuit()).graph(0))
    pkl = tmp_path / "ckt_bench_101.pkl"
    pkl.write_bytes(pickle.dumps(([pair] * 9000, [pair] * 1000), protocol=4))
    back = read_ocb(pkl, PERFORM101)
    rows = np.array([[float(x) for x in r[1:]] for r in list(csv.reader(PERFORM101.open()))[1:]])
    assert (len(back), back.n_train, back.name) == (10_000, 9000, "ckt_bench_101")
    assert back["valid"].all() and (rows[:, 0] == 1).all()
    for k, col in enumerate(("gain", "pm", "bw"), start=1):
        np.testing.assert_allclose(back[col], rows[:, k], rtol=0, atol=1e-12)
    # 230 rows of 101 use another FoM formula (docs/benchmark.md §4.4); the rest match to 3e-7.
    assert back.manifest["ocb"]["fom_recomputed_rows"] == 230
    diff = np.abs(back["fom"] - rows[:, 4])
    assert np.sort(diff)[9769] < 3e-7


# ---------------------------------------------------------------------------- errors
def test_count_mismatch(tmp_path):
    good = _pair([0, 6, 1], [0, 2, 1], [(0, 1), (1, 2)], subg_nfeats=[[0.0], [-1, 5.0, -1], [0.0]])
    with pytest.raises(CktGenError, match=r"holds 2 circuits but .* has 3 rows"):
        read_ocb(*_write(tmp_path, [good, good], n=3))


@pytest.mark.parametrize(
    "obj, match",
    [
        ("garbage", r"x\.pkl: not a readable pickle"),
        (42, "expected a \\(train, test\\) tuple"),
        ([1, 2, 3], r"item 0: expected a \(g_subg, g_dev\) igraph pair"),
        ([("a", "b")], r"item 0: expected a \(g_subg, g_dev\) igraph pair"),
    ],
)
def test_malformed_pickles(tmp_path, obj, match):
    pkl, out_csv = _write(tmp_path, [] if obj in ("garbage", 42) else obj)
    if obj == "garbage":
        pkl.write_bytes(b"\x80\x04not a pickle at all")
    elif obj == 42:
        pkl.write_bytes(pickle.dumps(42))
    with pytest.raises(CktGenError, match=match) as err:
        read_ocb(pkl, out_csv)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(types=[0, 6, 1], positions=[0, 2, 9]), r"item 0 vertex 2: 'pos' must be 0–7"),
        (dict(types=[0, "x", 1], positions=[0, 2, 1]), r"item 0 vertex 1: 'type' must be 0–25"),
        (dict(types=[0, 6, 1], positions=[0, 2, 1], edges=[(1, 0), (1, 2)]), "points backwards"),
        (dict(types=[0, 6, 1], positions=[0, 2, 1], nfeats=[[0.0], [-1, 5.0, 6.0, -1], [0.0]]),
         r"item 0 vertex 1: type 6 needs 'subg_nfeats' \[-1, 1 values, -1\]"),
        (dict(types=[0, 6, 1], positions=[0, 2, 1], nfeats=[[0.0], [-1, "5", -1], [0.0]]),
         "must be finite numbers"),
    ],
)  # fmt: skip
def test_bad_vertex_attributes(tmp_path, kwargs, match):
    nfeats = kwargs.pop("nfeats", [[0.0], [-1.0, 5.0, -1.0], [0.0]])
    edges = kwargs.pop("edges", [(0, 1), (1, 2)])
    pair = _pair(kwargs["types"], kwargs["positions"], edges, subg_nfeats=nfeats)
    with pytest.raises(CktGenError, match=match):
        read_ocb(*_write(tmp_path, [pair]))


def test_missing_igraph(monkeypatch, tmp_path, bench):
    monkeypatch.setitem(sys.modules, "igraph", None)  # makes `import igraph` raise ImportError
    with pytest.raises(CktGenError, match=r"needs igraph: pip install 'cktgen-eda\[ocb\]'"):
        read_ocb(tmp_path / "a.pkl", tmp_path / "a.csv")
    with pytest.raises(CktGenError, match="^writing OCB pickles needs igraph"):
        write_ocb(bench, tmp_path / "a.pkl", tmp_path / "a.csv")


def test_missing_files_and_bad_csv(tmp_path, written):
    pkl, out_csv = written
    with pytest.raises(CktGenError, match="no such file"):
        read_ocb(tmp_path / "none.pkl", out_csv)
    with pytest.raises(CktGenError, match="no such file"):
        read_ocb(pkl, tmp_path / "none.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text(",valid,gain,pm,fom\n0,1,1,1,1\n")
    with pytest.raises(CktGenError, match="no 'bw' column"):
        read_ocb(pkl, bad)
    bad.write_text(",valid,gain,pm,bw,fom\n0,1,1,oops,1,1\n")
    with pytest.raises(CktGenError, match="line 2: expected numbers"):
        read_ocb(pkl, bad)


def test_write_refuses_overwrite_and_bad_layout(bench, written, tmp_path):
    pkl, out_csv = tmp_path / "a.pkl", tmp_path / "a.csv"
    out_csv.write_text("keep me\n")
    with pytest.raises(CktGenError, match="exists; use --force"):
        write_ocb(bench, pkl, out_csv)
    assert not pkl.exists()  # nothing written when one target exists
    assert out_csv.read_text() == "keep me\n"
    with pytest.raises(CktGenError, match="layout must be one of"):
        write_ocb(bench, tmp_path / "n.pkl", tmp_path / "n.csv", layout="nested")
    write_ocb(bench, pkl, out_csv, force=True)
    assert pkl.read_bytes() == written[0].read_bytes()  # deterministic bytes
    assert out_csv.read_bytes() == written[1].read_bytes()
