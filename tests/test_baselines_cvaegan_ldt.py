"""CVAEGAN and LDT baselines (paper §2.3): losses train, decodes come back, D and VAE stay put."""

from __future__ import annotations

import pytest
import torch

from cktgen_eda.data.dataset import collate, split_datasets
from cktgen_eda.data.store import load_benchmark
from cktgen_eda.errors import CktGenError
from cktgen_eda.model.baselines import cvaegan, ldt
from cktgen_eda.model.baselines.cvaegan import CVAEGAN
from cktgen_eda.model.baselines.ldt import LDT, LDTConfig
from cktgen_eda.model.cktgen import CktGen
from cktgen_eda.model.generator import Decoded
from cktgen_eda.model.registry import make_config
from cktgen_eda.training.checkpoint import save_checkpoint


@pytest.fixture(scope="module")
def data():
    torch.set_num_threads(1)
    train, _, cleaned = split_datasets(load_benchmark("ocb101"), drop_invalid=True)
    return cleaned.scheme, train, collate(train.__getitems__(range(24)))


def _classes(b):
    return torch.stack([b.gain, b.bw, b.pm], -1)


def _check_decoded(out, n):
    assert len(out) == n and all(isinstance(d, Decoded) for d in out)
    assert all(d.types[0] == 0 for d in out)


@pytest.mark.parametrize("module", [cvaegan, ldt])
def test_config_round_trip(module):
    for name, config in module.PRESETS.items():
        back = type(config).from_dict(config.to_dict())
        assert back == config, name
    with pytest.raises(CktGenError, match="unknown key 'nope'"):
        type(module.PRESETS["cpu"]).from_dict({"nope": 1})


def test_ldt_config_checks():
    with pytest.raises(CktGenError, match="unknown key 'bogus'"):
        LDTConfig.from_dict({"vae": {"bogus": 1}})
    with pytest.raises(CktGenError, match="divide"):
        make_config("ldt", "tiny", tokens=3)
    assert LDTConfig.from_dict({"tokens": 4}).vae == ldt.PRESETS["cpu"].vae


def test_cvaegan_loss_trains_and_decodes(data):
    scheme, _, b = data
    torch.manual_seed(0)
    model = CVAEGAN(make_config("cvaegan", "tiny"), scheme)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(40):
        loss, terms = model.loss(b)
        assert torch.isfinite(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first or terms["recon"]
    assert set(terms) >= {"loss", "recon", "kl", "adv", "disc", "rec_type", "rec_edge"}
    assert terms["recon"] < 0.7 * first, (first, terms)
    model.eval()
    gen = torch.Generator().manual_seed(0)
    _check_decoded(model.generate(_classes(b)[:5], gen), 5)
    _check_decoded(model.decode(torch.randn(3, model.config.latent), gen), 3)
    _check_decoded(model.reconstruct(b), len(b.types))
    assert model.embed_circuits(b).shape == (len(b.types), model.config.latent)
    assert model.embed_specs(_classes(b)) is None


def test_cvaegan_adversarial_term_leaves_discriminator_alone(data):
    scheme, _, b = data
    torch.manual_seed(1)
    model = CVAEGAN(make_config("cvaegan", "tiny"), scheme)
    terms = model.loss_terms(b)
    terms["adv"].backward(retain_graph=True)
    disc = list(model.discriminator.parameters())
    assert all(p.grad is None or not p.grad.any() for p in disc)
    assert model.generator.type_head.weight.grad.abs().sum() > 0
    assert model.spec_embedder.body[0].weight.grad.abs().sum() > 0
    model.zero_grad()
    terms["disc"].backward()  # D's loss moves only D
    assert all(p.grad is not None for p in disc)
    assert all(p.grad is None for p in model.generator.parameters())


def test_cvaegan_without_encoder_generates(data):
    scheme, _, b = data
    model = CVAEGAN(make_config("cvaegan", "tiny"), scheme, with_encoder=False).eval()
    _check_decoded(model.generate(_classes(b)[:4], torch.Generator().manual_seed(0)), 4)
    with pytest.raises(CktGenError, match="circuit encoder"):
        model.reconstruct(b)


def test_ldt_trains_denoiser_only(data):
    scheme, train, b = data
    torch.manual_seed(0)
    model = LDT(make_config("ldt", "tiny"), scheme)
    with pytest.raises(CktGenError, match="prepare"):
        model.loss(b)
    model.prepare(train, batch_size=4096)
    assert bool(model.latent_ready) and (model.latent_std > 0).all()
    mean = model.latent_mean.clone()
    model.prepare(train)  # already set: kept
    assert torch.equal(model.latent_mean, mean)
    model.train()
    assert not model.vae.training and model.denoiser.training
    before = {k: v.clone() for k, v in model.vae.state_dict().items()}
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.1)
    torch.manual_seed(0)
    first = sum(model.loss(b)[1]["mse"] for _ in range(8)) / 8
    for _ in range(60):
        loss, terms = model.loss(b)
        assert torch.isfinite(loss) and set(terms) == {"loss", "mse"}
        opt.zero_grad()
        loss.backward()
        opt.step()
    last = sum(model.loss(b)[1]["mse"] for _ in range(8)) / 8
    assert last < first, (first, last)
    assert all(torch.equal(v, model.vae.state_dict()[k]) for k, v in before.items())
    assert not any(p.requires_grad for p in model.vae.parameters())
    model.eval()
    gen = torch.Generator().manual_seed(0)
    _check_decoded(model.generate(_classes(b)[:5], gen), 5)
    _check_decoded(model.generate(_classes(b)[:2], gen, cfg_scale=2.0), 2)
    assert model.sample_latents(None, n=3, generator=gen).shape == (3, 16)
    _check_decoded(model.decode(torch.randn(3, 16), gen), 3)
    _check_decoded(model.reconstruct(b), len(b.types))
    assert model.embed_circuits(b).shape == (len(b.types), 16)
    assert model.embed_specs(_classes(b)) is None


def test_ldt_from_vae_round_trip(data, tmp_path):
    scheme, train, b = data
    torch.manual_seed(2)
    vae = CktGen(make_config("cktgen", "tiny"), scheme)
    path = save_checkpoint(tmp_path / "vae.pt", vae, {"epoch": 0})
    model = LDT.from_vae(path, scheme, d=16, ff=32)
    assert model.config.vae == vae.config.to_dict() and model.config.d == 16
    for k, v in vae.state_dict().items():
        assert torch.equal(model.state_dict()[f"vae.{k}"], v), k
    model.prepare(train)
    # a saved LDT is self-contained: VAE weights and latent statistics come back
    state = model.state_dict()
    back = LDT(LDTConfig.from_dict(model.config.to_dict()), scheme, with_encoder=False)
    back.load_state_dict(state)
    assert torch.equal(back.latent_std, model.latent_std)
    assert torch.equal(back.vae.generator.z_proj.weight, vae.generator.z_proj.weight)
    gen = [torch.Generator().manual_seed(5) for _ in range(2)]
    classes = _classes(b)[:4]
    assert model.eval().generate(classes, gen[0]) == back.eval().generate(classes, gen[1])
    assert LDT.from_vae(path).scheme == scheme
