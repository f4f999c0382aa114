"""The paper's metrics (evaluation/metrics.py) on small hand-computed cases."""

import itertools
import math
from types import SimpleNamespace

import numpy as np
import pytest

from cktgen_eda.data.validity import same_dag
from cktgen_eda.evaluation import metrics as M

R2 = math.sqrt(0.5)


def test_retrieval_precision_ranks_and_pessimistic_ties():
    # Row 0 ranks its spec 1st; row 1 2nd; row 2 ties s0 and s2 at cos 1/√2 behind s1 (cos 1):
    # the tie counts against the hit, so rank 3 (a lenient rule would give 2).
    c = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    s = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    assert M.retrieval_precision(c, s) == {1: pytest.approx(1 / 3), 2: pytest.approx(2 / 3), 3: 1.0}


def test_retrieval_precision_is_scale_invariant_and_checks_shapes():
    c = np.array([[2.0, 0.0], [0.0, 5.0]])
    assert M.retrieval_precision(c, c * 3, ks=(1,)) == {1: 1.0}
    with pytest.raises(ValueError, match="shape"):
        M.retrieval_precision(c, c[:1])


def test_spec_accuracy_joint_plain_and_cumulative():
    want = np.array([[1, 2, 3], [1, 2, 3], [0, 5, 1], [3, 3, 3]])
    pred = np.array(
        [
            [1, 2, 3],  # all match
            [1, 9, 3],  # bw wrong
            [9, 5, 1],  # gain wrong
            [3, 3, 0],  # pm wrong
        ]
    )
    acc = M.spec_accuracy(pred, want)
    assert acc == {
        "joint": 0.25,
        "gain": 0.75,
        "bw": 0.75,
        "pm": 0.75,
        "cum_gain": 0.75,
        "cum_gain_bw": 0.5,
        "cum_gain_bw_pm": 0.25,
    }


def test_mm_distance():
    c = np.array([[1.0, 0.0], [0.0, 1.0]])
    s = np.array([[3.0, 0.0], [1.0, 1.0]])
    assert M.mm_distance(c, s) == pytest.approx((0.0 + (1 - R2)) / 2)
    assert M.mm_distance(c, -c) == pytest.approx(2.0)


def test_fid_identical_sets_is_zero():
    a = np.random.default_rng(0).normal(size=(50, 4))
    assert M.fid(a, a) == pytest.approx(0.0, abs=1e-9)


def test_fid_1d_closed_form_with_exact_moments():
    # μ + σ·(−1, 0, 1) has mean μ and unbiased variance σ² exactly.
    (m1, s1), (m2, s2) = (1.0, 2.0), (4.0, 0.5)
    a = (m1 + s1 * np.array([-1.0, 0.0, 1.0]))[:, None]
    b = (m2 + s2 * np.array([-1.0, 0.0, 1.0]))[:, None]
    want = (m1 - m2) ** 2 + s1**2 + s2**2 - 2 * s1 * s2  # 9 + 4 + 0.25 − 2 = 11.25
    assert M.fid(a, b) == pytest.approx(11.25)
    assert want == 11.25


def test_fid_2d_diagonal_by_hand():
    # a: mean (0,0), cov diag(1,4); b: mean (3,4), cov diag(4,1).
    # 25 + (1+4) + (4+1) − 2·tr(sqrt(diag(4,4))) = 35 − 8 = 27.
    u = np.array([-1.0, 0.0, 1.0])
    a = np.stack([np.r_[u, 0 * u], np.r_[0 * u, 2 * u]], axis=1)  # uncorrelated axes
    a = a - a.mean(axis=0)
    a = a / a.std(axis=0, ddof=1) * np.array([1.0, 2.0])
    b = a[:, ::-1] + np.array([3.0, 4.0])
    assert np.allclose(np.cov(a, rowvar=False), np.diag([1.0, 4.0]))
    assert M.fid(a, b) == pytest.approx(27.0)


def test_fid_matches_scipy_on_non_commuting_covariances():
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(1)
    a = rng.normal(size=(40, 5)) @ rng.normal(size=(5, 5))
    b = rng.normal(size=(30, 5)) @ rng.normal(size=(5, 5)) + 1.0
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    d = a.mean(0) - b.mean(0)
    ref = d @ d + np.trace(ca + cb - 2 * linalg.sqrtm(ca @ cb).real)
    assert M.fid(a, b) == pytest.approx(ref, rel=1e-6)
    assert M.fid(a, b) == pytest.approx(M.fid(b, a), rel=1e-9)


def test_pair_distance_follows_the_two_draw_sampler():
    x = np.array([0.0, 1.0, 3.0, 7.0, 15.0])[:, None]  # points on a line
    twin = np.random.default_rng(5)
    i = twin.choice(5, size=4, replace=False)
    j = twin.choice(5, size=4, replace=False)
    want = np.abs(x[i, 0] - x[j, 0]).mean()
    assert M.pair_distance(x, np.random.default_rng(5), pairs=4) == pytest.approx(want)
    assert M.pair_distance(np.ones((6, 3)), 0, pairs=6) == 0.0
    with pytest.raises(ValueError, match="pairs"):
        M.pair_distance(x, 0, pairs=6)


def test_diversity_paper_semantics_on_a_line():
    # emb[r, j] = 100·j + r: specs far apart, rounds of one spec close together.
    n_rounds, n_specs = 3, 4
    emb = (100.0 * np.arange(n_specs)[None, :] + np.arange(n_rounds)[:, None])[..., None]
    twin = np.random.default_rng(7)

    def draw(n):
        return twin.choice(n, size=n, replace=False), twin.choice(n, size=n, replace=False)

    across = [100.0 * np.abs(np.subtract(*draw(n_specs))).mean() for _ in range(n_rounds)]
    within = [np.abs(np.subtract(*draw(n_rounds))).mean() for _ in range(n_specs)]
    got = M.diversity(emb, np.random.default_rng(7), pairs=100)
    assert got["inter_d"] == pytest.approx(np.mean(across))
    assert got["intra_d"] == pytest.approx(np.mean(within))
    assert got["inter_d"] > got["intra_d"]
    # A deterministic generator (same circuit for a spec in every round) has Intra-D 0.
    assert M.diversity(np.repeat(emb[:1], 3, axis=0), 0)["intra_d"] == 0.0


# --- graphs ------------------------------------------------------------------------------------

CHAIN = ((0, 2, 1), ((0, 1), (1, 2)))  # In -> gm -> Out
BRANCH = ((0, 2, 3, 1), ((0, 1), (0, 2), (1, 3), (2, 3)))
CYCLE = ((0, 2, 3, 1), ((0, 1), (1, 2), (2, 1), (2, 3)))


def _decoded(types, paths, edges):
    return SimpleNamespace(types=types, paths=paths, sizes=(), edges=edges, complete=True)


def test_dag_of_and_validity_shares():
    good = _decoded((0, 2, 1), (0, 2, 1), ((0, 1), (1, 2)))
    fb_main = _decoded((0, 8, 1), (0, 3, 1), ((0, 1), (1, 2)))  # valid DAG, bad circuit
    cyclic = _decoded(CYCLE[0], (0, 2, 3, 1), CYCLE[1])
    no_out = _decoded((0, 2), (0, 2), ((0, 1),))
    decoded = [good, fb_main, cyclic, no_out]
    assert M.dag_of(good) == CHAIN
    assert M.validity(decoded) == 0.25
    assert M.valid_dag_share([M.dag_of(d) for d in decoded]) == 0.5
    with pytest.raises(ValueError, match="at least one graph"):
        M.validity([])


def test_novelty_one_duplicate_of_four():
    train = [CHAIN, ((0, 4, 1), ((0, 1), (1, 2)))]
    shuffled_edges = (CHAIN[0], ((1, 2), (0, 1)))  # same DAG as CHAIN
    other = ((0, 5, 1), ((0, 1), (1, 2)))
    extra_edge = (BRANCH[0], BRANCH[1] + ((0, 3),))
    assert M.novelty([shuffled_edges, BRANCH, other, extra_edge], train) == 0.75
    assert M.novelty([CHAIN], train) == 0.0
    assert math.isnan(M.novelty([], train))


def test_dag_key_is_equivalent_to_same_dag():
    rng = np.random.default_rng(3)
    graphs = []
    for _ in range(30):
        n = int(rng.integers(2, 5))
        types = tuple(int(t) for t in rng.integers(0, 3, size=n))
        cand = [(u, v) for u in range(n) for v in range(n) if u != v]
        keep = rng.random(len(cand)) < 0.3
        edges = [e for e, k in zip(cand, keep) if k]
        graphs.append((types, tuple(edges)))
        graphs.append((types, tuple(edges[::-1] + edges[:1])))  # reordered, duplicated edge
        graphs.append((types, tuple(edges) + ((0, n), (1, -1))))  # heads out of range: ignored
    assert sum(same_dag(a, b) for a, b in itertools.combinations(graphs, 2)) >= len(graphs) // 2
    for a, b in itertools.combinations(graphs, 2):
        assert (M.dag_key(a) == M.dag_key(b)) == same_dag(a, b), (a, b)


def test_recon_accuracy():
    truth = [CHAIN, BRANCH, CHAIN]
    decoded = [(CHAIN[0], CHAIN[1][::-1]), BRANCH[:1] + (BRANCH[1][:3],), CYCLE]
    assert M.recon_accuracy(truth, decoded) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="equal lengths"):
        M.recon_accuracy(truth, decoded[:2])
