"""CktGen preprocessing and tensors: cleaning, batch layout, filter mask, validity helpers."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from cktgen_eda.circuit import Circuit, Node
from cktgen_eda.data.dataset import (
    PAD_PATH,
    PAD_TYPE,
    CircuitDataset,
    SpecScheme,
    clean,
    collate,
    edge_pairs,
    joint_key,
    split_datasets,
    split_key,
)
from cktgen_eda.data.generator import generate
from cktgen_eda.data.store import Benchmark
from cktgen_eda.data.validity import is_valid_circuit, is_valid_dag, same_dag
from cktgen_eda.errors import CktGenError
from cktgen_eda.spec import BW_OFFSET, GAIN_OFFSET, PM_OFFSET

torch.set_num_threads(1)
INVALID, PM_NEG = "invalid", "pm<0"


def _labels(rows):
    """Measurements that land in the middle of the given (gain, bw, pm) classes."""
    out = {"valid": [], "gain_db": [], "ugf_hz": [], "pm_deg": [], "reason": []}
    for row in rows:
        ok = row != INVALID
        g, b, p = (1, 5, 0) if row in (INVALID, PM_NEG) else row
        out["valid"].append(ok)
        out["gain_db"].append((g - GAIN_OFFSET + 0.5) * 100 if ok else np.nan)
        out["ugf_hz"].append((b - BW_OFFSET + 0.5) * 1e9)
        # pm = -pm_deg/90 + PM_OFFSET; 200° gives pm ≈ −0.22 < 0 (class −1)
        out["pm_deg"].append(200.0 if row == PM_NEG else -(p - PM_OFFSET + 0.5) * 90)
        out["reason"].append("" if ok else "no ugf")
    return out


# train rows 0–5, test rows 6–11
ROWS = [(1, 2, 1), (1, 2, 1), (2, 0, 3), PM_NEG, INVALID, (3, 1, 2),
        (1, 2, 1), (2, 0, 2), PM_NEG, (3, 1, 2), INVALID, (0, 0, 0)]  # fmt: skip


@pytest.fixture(scope="module")
def bench() -> Benchmark:
    circuits = [c for _, c in generate(random.Random(0), len(ROWS))]
    return Benchmark.from_circuits(circuits, _labels(ROWS), n_train=6)


def test_labels_give_the_intended_classes(bench):
    cls = np.stack([bench["gain_cls"], bench["bw_cls"], bench["pm_cls"]], axis=1).tolist()
    assert cls[0] == [1, 2, 1] and cls[11] == [0, 0, 0]
    assert cls[3][:2] == [1, 5] and bench["pm"][3] < 0  # pm class −1 or clipped to 0
    assert cls[4] == [0, 0, 0] and not bench["valid"][4]


def test_clean_keeps_invalid_and_filters_pm_and_domain(bench):
    c = clean(bench)
    assert c.train_rows.tolist() == [0, 1, 2, 4, 5]
    assert c.test_rows.tolist() == [6, 9, 10, 11]  # 7 out of domain, 8 pm < 0
    assert c.counts == {
        "train_raw": 6, "test_raw": 6, "train_invalid": 0, "test_invalid": 0,
        "train_pm": 1, "test_pm": 1, "test_domain": 1,
        "train_kept": 5, "test_kept": 4, "train_classes": 4, "test_classes": 3,
    }  # fmt: skip
    s = c.scheme
    assert s.n_classes == (4, 3, 4)
    # counted before the pm filter, so the pm<0 row's key (1, 5, ·) is in the domain
    pm_neg_key = joint_key(1, 5, int(bench["pm_cls"][3]))
    assert s.train_keys == tuple(sorted({pm_neg_key, 0, 1002001, 2001003, 3000002}))
    fom = np.where(bench["valid"], bench["fom"], 0.0)[[0, 1, 2, 4, 5]]
    assert s.fom_mean == pytest.approx(fom.mean()) and s.fom_std == pytest.approx(fom.std(ddof=1))


def test_clean_drop_invalid(bench):
    c = clean(bench, drop_invalid=True)
    assert c.train_rows.tolist() == [0, 1, 2, 5]
    assert c.test_rows.tolist() == [6, 9]  # 11's (0, 0, 0) came only from an invalid row
    assert (c.counts["train_invalid"], c.counts["test_invalid"]) == (1, 1)
    assert (c.counts["test_pm"], c.counts["test_domain"]) == (1, 2)
    assert 0 not in c.scheme.train_keys


def test_joint_key_round_trip():
    assert joint_key(3, 17, 2) == 2_017_003
    assert split_key(2_017_003) == (3, 17, 2)


def test_spec_scheme_json_round_trip(bench):
    s = clean(bench).scheme
    back = SpecScheme.from_dict(json.loads(json.dumps(s.to_dict())))
    assert back == s
    with pytest.raises(CktGenError, match="missing 'n_bw'"):
        SpecScheme.from_dict({k: v for k, v in s.to_dict().items() if k != "n_bw"})
    with pytest.raises(CktGenError, match="unknown key 'x'"):
        SpecScheme.from_dict({**s.to_dict(), "x": 1})


def _two_stage() -> Circuit:
    """In, side path 18 @ pos 5 (In→X→S1), S1 6 @ 2, S2 7 @ 3, comp 4 @ 6 (S1→P→Out), Out."""
    nodes = (
        Node(0, 0),
        Node.from_ocb(18, 5, (40.0, 20.0, 60.0)),  # c, r, gm in OCB order
        Node.from_ocb(6, 2, (10.0,)),
        Node.from_ocb(7, 3, (30.0,)),
        Node.from_ocb(4, 6, (50.0, 70.0)),  # r, c
        Node(1, 1),
    )
    edges = ((0, 1), (0, 2), (1, 2), (2, 3), (2, 4), (3, 5), (4, 5))
    return Circuit(nodes, edges).validate()


def _one_stage() -> Circuit:
    return Circuit((Node(0, 0), Node.from_ocb(10, 2, (5.0, 25.0)), Node(1, 1)), ((0, 1), (1, 2)))


@pytest.fixture(scope="module")
def hand() -> Benchmark:
    rows = [(1, 2, 1), (2, 0, 3)]
    return Benchmark.from_circuits([_two_stage(), _one_stage()], _labels(rows), n_train=2)


def test_sizes_layout_follows_positions_and_slots(hand):
    train, _, _ = split_datasets(hand)
    b = collate([train[0], train[1]])
    sizes = b.sizes[0].tolist()
    expect = [0.0] * 24
    expect[15:18] = [0.2, 0.4, 0.6]  # type 18 at pos 5: r, c, gm (stored c, r, gm)
    expect[8] = 0.1  # gm of stage 1 (pos 2)
    expect[11] = 0.3  # gm of stage 2 (pos 3)
    expect[18:20] = [0.5, 0.7]  # type 4 at pos 6: r, c
    assert sizes == pytest.approx(expect)
    assert b.node_sizes[0, 1].tolist() == pytest.approx([0.2, 0.4, 0.6])
    assert b.node_sizes[1, 1].tolist() == pytest.approx([0.0, 0.05, 0.25])  # type 10: c, gm
    assert b.sizes[1, 6:9].tolist() == pytest.approx([0.0, 0.05, 0.25])
    assert b.node_sizes[1, 3:].abs().sum() == 0


def test_adjacency_edge_target_and_edge_index(hand):
    train, _, _ = split_datasets(hand)
    b = collate([train[0], train[1]])
    edges = _two_stage().edges
    assert b.adj.shape == (2, 8, 8) and int(b.adj[0].sum()) == len(edges)
    assert all(b.adj[0, i, j] == 1 for i, j in edges)
    # row-major over i < j with max_n = 8: (i, j) -> i·(15 − i)/2 + j − i − 1
    assert b.edge_target.shape == (2, 28)
    assert b.edge_target[0].nonzero().flatten().tolist() == [0, 1, 7, 13, 14, 19, 22]
    assert b.edge_target[1].nonzero().flatten().tolist() == [0, 7]
    rows, cols = edge_pairs(8)
    assert (rows[19].item(), cols[19].item()) == (3, 5)
    assert b.edge_mask[1].sum() == 3 and b.edge_mask[0].sum() == 15  # C(3,2), C(6,2)
    # PyG layout: circuit 1's vertices follow circuit 0's six
    assert b.edge_index.tolist() == [[0, 0, 1, 2, 2, 3, 4, 6, 7], [1, 2, 2, 3, 4, 5, 5, 7, 8]]
    assert b.batch.tolist() == [0] * 6 + [1] * 3
    assert b.types[b.mask].tolist() == [0, 18, 6, 7, 4, 1, 0, 10, 1]


def test_padding_conventions(hand):
    train, test, _ = split_datasets(hand)
    assert len(test) == 0 and test.all().types.shape == (0, 8)
    b = collate([train[1]])
    assert b.n_nodes.tolist() == [3]
    assert b.mask[0].tolist() == [True] * 3 + [False] * 5
    assert b.types[0].tolist() == [0, 10, 1] + [PAD_TYPE] * 5
    assert b.types_gt[0].tolist() == [0, 10, 1] + [-1] * 5
    assert b.paths[0].tolist() == [0, 2, 1] + [PAD_PATH] * 5
    assert b.paths_gt[0].tolist() == [0, 2, 1] + [-1] * 5
    assert (b.gain.item(), b.bw.item(), b.pm.item(), b.joint.item()) == (2, 0, 3, 3000002)
    assert b.types.dtype == torch.long and b.adj.dtype == torch.float32


def test_filter_mask_marks_same_key_pairs(bench):
    c = clean(bench)
    ds = CircuitDataset(bench, [0, 2, 1, 5, 6], c.scheme)  # keys A B A C A
    b = collate([ds[i] for i in range(len(ds))])
    inf = float("-inf")
    expect = torch.zeros(5, 5)
    for i, j in [(0, 2), (0, 4), (2, 4)]:
        expect[i, j] = expect[j, i] = inf
    assert torch.equal(b.filter_mask, expect)
    assert b.rows.tolist() == [0, 2, 1, 5, 6]


def test_fom_is_zero_for_invalid_rows_and_z_scored(bench):
    train, test, c = split_datasets(bench)
    b = train.all()
    assert b.valid.tolist() == [True, True, True, False, True]
    assert b.fom[3] == 0
    z = (b.fom - c.scheme.fom_mean) / c.scheme.fom_std
    assert torch.allclose(b.fom_z, z, atol=1e-5)
    assert abs(float(b.fom_z.mean())) < 1e-5
    assert len(test) == 4


def test_dataloader_matches_per_circuit_view():
    circuits = [c for _, c in generate(random.Random(3), 60)]
    rng = np.random.default_rng(0)
    labels = {
        "valid": np.ones(60, bool),
        "gain_db": rng.uniform(0, 150, 60),
        "ugf_hz": rng.uniform(1e6, 5e9, 60),
        "pm_deg": rng.uniform(-170, 170, 60),
    }
    bench = Benchmark.from_circuits(circuits, labels, n_train=50)
    train, _, _ = split_datasets(bench)
    g = torch.Generator().manual_seed(0)
    loader = DataLoader(train, batch_size=16, shuffle=True, collate_fn=collate, generator=g)
    seen = 0
    for b in loader:
        seen += len(b.rows)
        assert b.batch.numel() == int(b.n_nodes.sum()) == int(b.mask.sum())
        for k, row in enumerate(b.rows.tolist()):
            circ = bench.circuit(row)
            assert b.types[k, : len(circ.nodes)].tolist() == [nd.type for nd in circ.nodes]
            got = {(i, j) for i, j in b.adj[k].nonzero().tolist()}
            assert got == set(circ.edges)
            for v, nd in enumerate(circ.nodes):
                want = [x / 100 for x in nd.ocb_values()]
                have = [float(b.node_sizes[k, v, "rcg".index(s[0])]) for s in nd.kind.components]
                assert have == pytest.approx(want, abs=1e-6)
    assert seen == len(train)
    # the batched fetch DataLoader uses gives the same batch as stacking single items
    a, b = collate(train.__getitems__([3, 1, 4])), collate([train[3], train[1], train[4]])
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_dataset_rejects_bad_input(hand):
    scheme = clean(hand).scheme
    with pytest.raises(CktGenError, match="row 0 has 6 vertices, max_n is 5"):
        CircuitDataset(hand, [0, 1], scheme, max_n=5)
    small = SpecScheme(4, 1, 4, (), 0.0, 1.0)
    with pytest.raises(CktGenError, match=r"row 0: bw class 2 not in 0…0"):
        CircuitDataset(hand, [0], small)
    arrays = {k: v.copy() for k, v in hand.arrays.items()}
    arrays["node_pos"][7] = 0  # row 1's stage (flat node 7) moved onto the input's position
    with pytest.raises(CktGenError, match="row 1 has two vertices at position 0"):
        CircuitDataset(Benchmark(arrays, 2), [0, 1], scheme)
    arrays = {k: v.copy() for k, v in hand.arrays.items()}
    arrays["edges"][-1] = (2, 1)  # row 1's last edge reversed
    with pytest.raises(CktGenError, match="row 1 edge 2->1 is not forward"):
        CircuitDataset(Benchmark(arrays, 2), [0, 1], scheme)


VALID_T, VALID_P = [0, 18, 6, 7, 4, 1], [0, 5, 2, 3, 6, 1]
VALID_E = [(0, 1), (0, 2), (1, 2), (2, 3), (2, 4), (3, 5), (4, 5)]


@pytest.mark.parametrize(
    "types, edges, ok",
    [
        (VALID_T, VALID_E, True),
        (VALID_T, np.array(VALID_E), True),
        ([0, 0, 6, 7, 4, 1], VALID_E, False),  # two inputs
        ([0, 18, 6, 7, 4, 6], VALID_E, False),  # no output
        (VALID_T, VALID_E[:-1], False),  # vertex 4 has no successor
        (VALID_T, VALID_E[1:], False),  # vertex 1 has no predecessor
        (VALID_T, VALID_E + [(3, 2)], False),  # cycle 2 → 3 → 2
        (VALID_T, VALID_E + [(5, 9)], False),  # edge out of range
    ],
)
def test_is_valid_dag(types, edges, ok):
    assert is_valid_dag(types, edges) is ok


def test_is_valid_circuit_rejects_feedback_gm_on_main_path():
    assert is_valid_circuit(VALID_T, VALID_P, VALID_E)
    assert not is_valid_circuit([0, 18, 8, 7, 4, 1], VALID_P, VALID_E)  # 8 at stage 1
    assert is_valid_circuit([0, 9, 6, 7, 4, 1], VALID_P, VALID_E)  # 9 at side path pos 5
    assert not is_valid_circuit([0, 0, 6, 7, 4, 1], VALID_P, VALID_E)  # not a valid DAG


def test_same_dag():
    a = (VALID_T, VALID_E)
    assert same_dag(a, (list(VALID_T), VALID_E[::-1]))
    assert not same_dag(a, ([0, 19, 6, 7, 4, 1], VALID_E))  # a type differs
    moved = [(0, 1), (0, 2), (1, 2), (2, 3), (1, 4), (3, 5), (4, 5)]
    assert not same_dag(a, (VALID_T, moved))  # vertex 4's predecessor differs
    assert not same_dag(a, (VALID_T[:-1], VALID_E[:-2]))
