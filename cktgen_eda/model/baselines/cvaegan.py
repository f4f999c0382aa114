"""CVAEGAN baseline (paper §2.3, Fig. 5(c)): circuit VAE + additive spec embedder + discriminator.

Built on CktGen's circuit encoder and generator, without any of CktGen's alignment losses
(no InfoNCE, guidance or feature alignment). circuit → ``CircuitEncoder`` → (μ_c, log σ_c²)
→ z_c; spec classes → three embeddings → MLP → E(s), deterministic; the generator decodes
z_c + E(s). Generation decodes ε + E(s), ε ~ N(0, I).

The discriminator D is an MLP over a fixed-size circuit vector: per vertex slot the one-hot
type (26), one-hot position (8) and device sizes (r, c, gm), plus the forward edges
(``max_n·(max_n−1)/2``); padding is zero. Real: the batch's circuits. Fake: the generator's
teacher-forced outputs for a prior latent ε + E(s) of the same batch (same vertex count),
drawn with straight-through Gumbel-softmax / Bernoulli so that they are one-hot like the real
ones yet differentiable w.r.t. the generator. D is unconditional (the "simplified" CVAE-GAN).

One optimiser trains everything: D's loss sees ``fake.detach()``, and the generator's
non-saturating term runs through D with detached parameters, so each term only moves its
own side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from ...data.dataset import Batch, SpecScheme
from ...errors import CktGenError
from ...subgraphs import N_POSITIONS, N_TYPES
from ..cktgen import kl_normal, weighted_recon
from ..config import TransformerConfig, tiny
from ..encoders import CircuitEncoder
from ..generator import PRESENT, CircuitGenerator, Decoded


@dataclass(frozen=True)
class CVAEGANConfig(TransformerConfig):
    """Model and loss hyper-parameters; sizes as CktGen's ``cpu`` preset (defaults: ``cpu``).

    CktGen's fields without the alignment ones (model/config.py), plus the discriminator's.
    """

    gnn_layers: int = 2
    d_disc: int = 256  # discriminator hidden width
    w_adv: float = 0.1  # generator's adversarial term; D's own loss enters with weight 1


PRESETS = {
    "cpu": CVAEGANConfig(),
    "tiny": tiny(CVAEGANConfig, d_disc=64),
}


class SpecEmbedder(nn.Module):
    """E(s): gain, bw and pm class embeddings → MLP → [B, latent] (not variational)."""

    def __init__(self, n_classes: tuple[int, int, int], d: int, latent: int) -> None:
        super().__init__()
        self.embs = nn.ModuleList(nn.Embedding(n, d) for n in n_classes)
        self.body = nn.Sequential(nn.Linear(3 * d, d), nn.GELU(), nn.Linear(d, latent))

    def forward(self, classes: torch.Tensor) -> torch.Tensor:
        """Shapes: classes [B, 3] long (gain, bw, pm) → [B, latent]."""
        return self.body(torch.cat([e(classes[:, k]) for k, e in enumerate(self.embs)], -1))


def circuit_features(b: Batch) -> torch.Tensor:
    """The discriminator's view of the batch's real circuits.

    Shapes: returns [B, max_n·37 + max_n·(max_n−1)/2] (see module docstring).
    """
    m = b.mask[..., None].float()
    types = F.one_hot(b.types.clamp(max=N_TYPES - 1), N_TYPES) * m
    paths = F.one_hot(b.paths.clamp(max=N_POSITIONS - 1), N_POSITIONS) * m
    nodes = torch.cat([types, paths, b.node_sizes * m], -1).flatten(1)
    return torch.cat([nodes, _pairs(b.adj.transpose(1, 2), b.mask)], -1)


def _pairs(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """x[b, t, j] for j < t (edge j → t), zero unless both vertices are real: [B, n(n−1)/2]."""
    t, j = torch.tril_indices(x.shape[1], x.shape[1], -1, device=x.device)
    return x[:, t, j] * (mask[:, t] & mask[:, j])


def fake_features(gen: CircuitGenerator, z: torch.Tensor, b: Batch) -> torch.Tensor:
    """The generator's teacher-forced circuits from latents z [B, latent], as D's input.

    The transformer sees the batch's vertices (as in ``CircuitGenerator.forward``); at each
    vertex a type, then a position given it, are drawn with straight-through Gumbel-softmax,
    sizes are regressed given both, and edges are straight-through Bernoulli draws.
    Shapes: returns [B, max_n·37 + max_n·(max_n−1)/2], like ``circuit_features``.
    """
    n = b.types.shape[1]
    m = b.mask[..., None].float()
    h = gen._hidden(z, b.types, b.paths, b.node_sizes)  # (B, n+1, d)
    ht = h[:, :n]  # ht[:, t] predicts node t
    types = F.gumbel_softmax(gen.type_head(ht), hard=True)  # (B, n, 26)
    te = types @ gen.type_emb.weight[:N_TYPES]  # embedding of the drawn type
    paths = F.gumbel_softmax(gen.pos_head(torch.cat([ht, te], -1)), hard=True)  # (B, n, 8)
    pe = paths @ gen.pos_emb.weight[:N_POSITIONS]
    ctx = torch.cat([ht, te, pe], -1)
    present = types @ PRESENT.to(z.device).float()  # (B, n, 3): slots of the drawn type
    sizes = gen.size_head(ctx) * present
    q, k = gen.edge_query(ctx), gen.edge_key(h[:, 1 : n + 1])
    p = torch.sigmoid(gen.edge_out(q[:, :, None] + k[:, None]).squeeze(-1))  # (B, n, n)
    edges = torch.bernoulli(p.detach()) + p - p.detach()
    nodes = torch.cat([types * m, paths * m, sizes * m], -1).flatten(1)
    return torch.cat([nodes, _pairs(edges, b.mask)], -1)


class CVAEGAN(nn.Module):
    """Circuit VAE whose decoder input is z_c + E(s), trained with a discriminator."""

    kind: ClassVar[str] = "cvaegan"

    def __init__(self, config: CVAEGANConfig, scheme: SpecScheme, with_encoder: bool = True):
        super().__init__()
        self.config, self.scheme = config, scheme
        c = config
        self.circuit_encoder = CircuitEncoder.from_config(c) if with_encoder else None
        self.spec_embedder = SpecEmbedder(scheme.n_classes, c.d_enc, c.latent)
        self.generator = CircuitGenerator.from_config(c)
        d_in = c.max_n * (N_TYPES + N_POSITIONS + 3) + c.max_n * (c.max_n - 1) // 2
        self.discriminator = nn.Sequential(
            nn.Linear(d_in, c.d_disc),
            nn.LeakyReLU(0.2),
            nn.Linear(c.d_disc, c.d_disc),
            nn.LeakyReLU(0.2),
            nn.Linear(c.d_disc, 1),
        )

    def _encoder(self) -> CircuitEncoder:
        if self.circuit_encoder is None:
            raise CktGenError("this needs the circuit encoder: build with with_encoder=True")
        return self.circuit_encoder

    def loss_terms(self, b: Batch) -> dict[str, torch.Tensor]:
        """Every loss term of one batch as tensors: ``recon``, ``kl``, ``adv`` (the generator's
        non-saturating term; D's parameters get no gradient from it), ``disc`` (D's loss on
        detached fakes) and ``rec_{type,pos,size,edge}``."""
        c = self.config
        mu_c, lv_c = self._encoder()(b)
        e_s = self.spec_embedder(b.classes)
        z_c = mu_c + torch.randn_like(mu_c) * (0.5 * lv_c).exp()
        rec = self.generator(z_c + e_s, b)
        recon = weighted_recon(c, rec)
        fake = fake_features(self.generator, torch.randn_like(e_s) + e_s, b)
        real = circuit_features(b)
        d_real = self.discriminator(real)
        d_fake = self.discriminator(fake.detach())
        disc = F.binary_cross_entropy_with_logits(
            d_real, torch.ones_like(d_real)
        ) + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
        frozen = {k: v.detach() for k, v in self.discriminator.named_parameters()}
        g_fake = functional_call(self.discriminator, frozen, (fake,))
        adv = F.binary_cross_entropy_with_logits(g_fake, torch.ones_like(g_fake))
        return {
            "recon": recon,
            "kl": kl_normal(mu_c, lv_c),
            "adv": adv,
            "disc": disc,
            **{f"rec_{k}": v for k, v in rec.items()},
        }

    def loss(self, b: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """Total loss ``2·recon + w_kl·KL + w_adv·adv + disc`` and its named terms (floats)."""
        c = self.config
        t = self.loss_terms(b)
        total = 2 * t["recon"] + c.w_kl * t["kl"] + c.w_adv * t["adv"] + t["disc"]
        return total, {k: float(v.detach()) for k, v in {"loss": total, **t}.items()}

    @torch.no_grad()
    def generate(
        self,
        classes: torch.Tensor,
        generator: torch.Generator | None = None,
        greedy: bool = False,
        temperature: float = 1.0,
    ) -> list[Decoded]:
        """Decode ε·temperature + E(s) for each row of spec classes [B, 3] (gain, bw, pm)."""
        e_s = self.spec_embedder(classes)
        eps = torch.randn(e_s.shape, generator=generator, device=e_s.device)
        return self.generator.sample(e_s + temperature * eps, generator, greedy)

    @torch.no_grad()
    def decode(
        self, z: torch.Tensor, generator: torch.Generator | None = None, greedy: bool = False
    ) -> list[Decoded]:
        """Decode decoder inputs z [B, latent] (the spec embedding already added, if any)."""
        return self.generator.sample(z, generator, greedy)

    @torch.no_grad()
    def reconstruct(self, b: Batch) -> list[Decoded]:
        """Greedy decode of μ_c + E(s), s the batch's own spec classes."""
        mu_c, _ = self._encoder()(b)
        return self.generator.sample(mu_c + self.spec_embedder(b.classes), greedy=True)

    @torch.no_grad()
    def embed_circuits(self, b: Batch) -> torch.Tensor:
        """μ_c [B, latent] (without the spec embedding)."""
        return self._encoder()(b)[0]

    def embed_specs(self, classes: torch.Tensor) -> None:
        """None: E(s) is a decoder offset, not a spec latent (paper Fig. 6(c) shows none)."""
        return None
