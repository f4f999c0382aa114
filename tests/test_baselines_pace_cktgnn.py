"""PACE and CktGNN baselines: losses train, decodes are forward DAGs, configs round-trip;
and the generator's unconstrained (``grammar=False``) path leaves the default one alone."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from cktgen_eda.data.dataset import collate, split_datasets
from cktgen_eda.data.store import load_benchmark
from cktgen_eda.data.validity import is_valid_circuit
from cktgen_eda.errors import CktGenError
from cktgen_eda.model.baselines import cktgnn, pace
from cktgen_eda.model.generator import CircuitGenerator, Decoded
from cktgen_eda.model.registry import make_config

MODELS = {
    "pace": (pace.PACE, pace.PACEConfig, partial(make_config, "pace")),
    "cktgnn": (cktgnn.CktGNN, cktgnn.CktGNNConfig, partial(make_config, "cktgnn")),
}


@pytest.fixture(scope="module")
def data():
    torch.set_num_threads(1)  # as test_model.py: the 2-core machine is shared
    train, _, cleaned = split_datasets(load_benchmark("ocb101"))
    return cleaned.scheme, collate(train.__getitems__(range(0, 480, 20)))  # 24 circuits


def make(kind: str, scheme, **kw):
    torch.manual_seed(0)
    cls, _, preset = MODELS[kind]
    return cls(preset("tiny"), scheme, **kw)


def classes(b) -> torch.Tensor:
    return torch.stack([b.gain, b.bw, b.pm], -1)


def check_decoded(decoded: list[Decoded], n: int, max_n: int = 8) -> None:
    assert len(decoded) == n
    for d in decoded:
        assert isinstance(d, Decoded)
        m = len(d.types)
        assert 1 <= m <= max_n and len(d.paths) == len(d.sizes) == m
        assert d.types[0] == 0 and all(len(s) == 3 for s in d.sizes)
        assert all(0 <= a < c < m for a, c in d.edges)  # forward: acyclic by construction
        assert d.complete == (d.types[-1] == 1) and 1 not in d.types[:-1]


@pytest.mark.parametrize("kind", MODELS)
def test_loss_is_finite_and_backpropagates(kind, data):
    scheme, b = data
    model = make(kind, scheme)
    assert model.kind == kind
    loss, terms = model.loss(b)
    assert torch.isfinite(loss) and terms["loss"] == pytest.approx(loss.item())
    assert {"recon", "kl", "nce", "guide", "align", "rec_edge"} <= set(terms)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("kind", MODELS)
def test_training_on_one_batch_lowers_the_loss(kind, data):
    scheme, b = data
    model = make(kind, scheme)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    recon = []
    for _ in range(30):
        loss, terms = model.loss(b)
        opt.zero_grad()
        loss.backward()
        opt.step()
        recon.append(terms["recon"])
    assert sum(recon[-3:]) < 0.6 * sum(recon[:3]), recon


@pytest.mark.parametrize("kind", MODELS)
def test_decodes_are_forward_graphs(kind, data):
    scheme, b = data
    model = make(kind, scheme).eval()
    g = torch.Generator().manual_seed(0)
    check_decoded(model.generate(classes(b), g), len(b.types))
    check_decoded(model.generate(classes(b), greedy=True), len(b.types))
    check_decoded(model.decode(torch.randn(7, model.config.latent), g), 7)
    check_decoded(model.reconstruct(b), len(b.types))
    assert model.reconstruct(b) == model.reconstruct(b)  # greedy: deterministic


@pytest.mark.parametrize("kind", MODELS)
def test_embeddings_and_model_without_encoder(kind, data):
    scheme, b = data
    model = make(kind, scheme).eval()
    latent = model.config.latent
    assert model.embed_circuits(b).shape == (len(b.types), latent)
    assert model.embed_specs(classes(b)).shape == (len(b.types), latent)
    bare = make(kind, scheme, with_encoder=False).eval()
    assert bare.circuit_encoder is None
    check_decoded(bare.generate(classes(b)[:5]), 5)
    with pytest.raises(CktGenError):
        bare.embed_circuits(b)


@pytest.mark.parametrize("kind", MODELS)
def test_config_round_trip_and_presets(kind):
    _, config_cls, preset = MODELS[kind]
    for name in ("cpu", "tiny"):
        c = preset(name)
        assert config_cls.from_dict(c.to_dict()) == c
    assert preset("tiny", latent=8).latent == 8
    with pytest.raises(CktGenError, match="bogus"):
        config_cls.from_dict({**preset("cpu").to_dict(), "bogus": 1})
    with pytest.raises(CktGenError):
        preset("huge")


def test_pace_attention_sees_only_ancestors():
    adj = torch.zeros(1, 4, 4)
    adj[0, 0, 1] = adj[0, 1, 3] = adj[0, 0, 2] = 1.0  # 0→1→3, 0→2
    reach = pace.ancestors(adj)[0]
    assert reach[0, 3] and not reach[2, 3] and not reach[3, 0] and not reach.diagonal().any()


def test_generator_without_grammar_and_default_path_unchanged():
    torch.manual_seed(0)
    gen = CircuitGenerator(16, 32, 1, 2, 64, 0.0).eval()
    z = torch.randn(64, 16) * 2
    free = gen.sample(z, torch.Generator().manual_seed(1), grammar=False)
    check_decoded(free, 64)
    assert not all(is_valid_circuit(d.types, d.paths, d.edges) for d in free)
    greedy = gen.sample(z, greedy=True, grammar=False)
    assert greedy == gen.sample(z, greedy=True, grammar=False)
    # The grammar path is the default and does not depend on the new keyword.
    for kw in ({}, {"greedy": True}):
        a = gen.sample(z, torch.Generator().manual_seed(2), **kw)
        b = gen.sample(z, torch.Generator().manual_seed(2), grammar=True, **kw)
        assert a == b and a != free
    assert all(d.complete for d in a)
