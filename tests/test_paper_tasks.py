"""cond-gen / recon / uncond protocols on oracle models whose answers are known exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cktgen_eda.data.dataset import CircuitDataset, collate, split_datasets
from cktgen_eda.data.store import load_benchmark
from cktgen_eda.evaluation import cond_gen, recon
from cktgen_eda.model.evaluator import Evaluator
from cktgen_eda.model.generator import SLOT_INDEX, Decoded
from cktgen_eda.model.registry import make_config


def as_decoded(circuit) -> Decoded:
    sizes = []
    for node in circuit.nodes:
        s = [0.0, 0.0, 0.0]
        for k, v in zip(node.kind.components, node.ocb_values()):
            s[SLOT_INDEX[k]] = v / 100
        sizes.append(tuple(s))
    return Decoded(
        tuple(n.type for n in circuit.nodes),
        tuple(n.pos for n in circuit.nodes),
        tuple(sizes),
        tuple(circuit.edges),
    )


class Oracle:
    """Answers each spec with a real test circuit of that class, and reconstructs exactly."""

    kind = "oracle"

    def __init__(self, bench, ds, broken: bool = False):
        b = ds.all()
        self.by_class, self.row_of = {}, {}
        for i, row in enumerate(b.rows.tolist()):
            key = (int(b.gain[i]), int(b.bw[i]), int(b.pm[i]))
            self.by_class.setdefault(key, as_decoded(bench.circuit(row)))
            self.row_of.setdefault(key, row)
        self.bench, self.ds, self.broken = bench, ds, broken

    def generate(self, classes, generator=None, greedy=False):
        out = [self.by_class[tuple(c)] for c in classes.tolist()]
        if self.broken:  # every second answer loses its output node: invalid
            out = [
                Decoded(d.types[:-1], d.paths[:-1], d.sizes[:-1], ()) if i % 2 else d
                for i, d in enumerate(out)
            ]
        return out

    def eval(self):
        return self

    def reconstruct(self, b):
        return [as_decoded(self.bench.circuit(int(r))) for r in b.rows.tolist()]

    def embed_circuits(self, b):
        return torch.nn.functional.one_hot(b.types[:, 1], 27).float()

    def decode(self, z, generator=None, greedy=False):
        rows = self.ds.all().rows.tolist()
        return [as_decoded(self.bench.circuit(rows[i % len(rows)])) for i in range(len(z))]


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    bench = load_benchmark("ocb101")
    train_ds, test_ds, cleaned = split_datasets(bench, drop_invalid=True)
    small = CircuitDataset(bench, cleaned.test_rows[:40], cleaned.scheme)
    ev = Evaluator(make_config("evaluator", "tiny"), cleaned.scheme).eval()
    return bench, train_ds, small, ev


def test_cond_gen_oracle_is_verified_right(setup):
    bench, _, small, ev = setup
    oracle = Oracle(bench, small)
    out = cond_gen.run(oracle, ev, small, rounds=3, progress=False, pairs=10)
    classes = cond_gen.clusters(small)[0]
    n = len(classes)
    assert out["clusters"] == n and out["generated"] == 3 * n
    assert out["validity"] == 1.0 and out["buildable"] == 1.0
    # The labels come from the same ngspice testbench: measured class == requested class.
    assert out["verified_spec_acc"] == 1.0
    # ... and so do the stability verdicts: the shares are the answers' dataset columns.
    rows = [oracle.row_of[tuple(int(x) for x in c)] for c in classes]
    stable, cl_stable = bench["stable"][rows], bench["cl_stable"][rows]
    working = stable & cl_stable & (bench["gain_db"][rows] > 0)
    assert out["stable_share"] == pytest.approx(stable.mean())
    assert out["cl_stable_share"] == pytest.approx(cl_stable.mean())
    assert out["working_share"] == pytest.approx(working.mean())
    assert out["verified_working_spec_acc"] == pytest.approx(working.mean())
    assert_stability_shares(out)
    # The same circuit answers a spec in every round: zero same-spec diversity.
    assert out["intra_d"] == pytest.approx(0.0, abs=1e-6) and out["inter_d"] > 0
    for k in ("top1", "top2", "top3", "spec_acc", "mm_d"):
        assert 0.0 <= out[k] <= 2.0
    assert out["top1"] <= out["top2"] <= out["top3"]


def test_cond_gen_counts_invalid_decodes_as_misses(setup):
    bench, _, small, ev = setup
    out = cond_gen.run(
        Oracle(bench, small, broken=True), ev, small, rounds=2, progress=False, pairs=10
    )
    n = out["generated"]
    assert out["buildable"] == pytest.approx((n - n // 2) / n)
    assert out["verified_spec_acc"] == pytest.approx(out["buildable"])
    # A decode that cannot be built is not stable either.
    assert_stability_shares(out)
    assert out["stable_share"] <= out["buildable"] and out["cl_stable_share"] <= out["buildable"]


def assert_stability_shares(out: dict) -> None:
    """The stability keys of cond-gen: shares in [0, 1], working ⊆ stable both ways."""
    keys = ("stable_share", "cl_stable_share", "working_share", "verified_working_spec_acc")
    for k in keys:
        assert 0.0 <= out[k] <= 1.0, k
    assert out["working_share"] <= min(out["stable_share"], out["cl_stable_share"])
    assert out["verified_working_spec_acc"] <= out["verified_spec_acc"]
    assert out["verified_working_spec_acc"] <= out["working_share"]


def test_recon_and_uncond_on_oracle(setup):
    bench, train_ds, small, _ = setup
    assert recon.reconstruction(Oracle(bench, small), small)["recon_acc"] == 1.0
    shifted = Oracle(bench, small)
    shifted.reconstruct = lambda b: (
        Oracle(bench, small).reconstruct(b)[1:] + Oracle(bench, small).reconstruct(b)[:1]
    )
    assert recon.reconstruction(shifted, small)["recon_acc"] < 1.0
    out = recon.unconditional(Oracle(bench, small), small, n_latents=20, decodes=2)
    assert out["samples"] == 40 and out["validity"] == 1.0
    assert out["novelty"] == 0.0  # every decode is a circuit of the reference set


def test_clusters_cover_the_test_split(setup):
    _, _, small, _ = setup
    classes, members = cond_gen.clusters(small)
    assert sum(len(m) for m in members) == len(small)
    assert len(np.unique(classes, axis=0)) == len(classes)
    b = collate(small.__getitems__(members[0].tolist()))
    assert (b.gain == int(classes[0][0])).all() and (b.bw == int(classes[0][1])).all()


def test_two_nodes_at_one_position_are_not_buildable():
    from types import SimpleNamespace as NS

    def amp(*positions):
        return NS(nodes=[NS(pos=p) for p in positions])

    assert cond_gen._one_per_position(amp(0, 2, 5, 1))
    assert not cond_gen._one_per_position(amp(0, 2, 5, 5, 1))
