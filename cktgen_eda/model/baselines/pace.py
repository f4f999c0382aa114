"""PACE baseline (paper §2.3, Fig. 5(a)): DAG-attention transformer VAE + spec encoder.

PACE (Dong et al., ICML 2022) encodes a DAG with a transformer over its topologically sorted
nodes in which a node attends only to itself and its ancestors (the dag attention mask), so
the computation follows the DAG's partial order; node tokens are type + position embeddings
plus a topological-order embedding, with no GNN. As in CktGen's comparison, PACE gets a
specification encoder like CktGen's and CktGen's specification-circuit alignment losses
(``aligned_loss``, shared with the CktGNN baseline). Its decoder is CktGen's transformer
generator sampled **without** the OCB grammar (``grammar=False``), as the original PACE
decodes: generated graphs may be invalid circuits, which the validity metric then counts.

Data flow: ``Batch`` → ``PACE.loss`` (training); spec classes → μ_s, σ_s → z_s →
``CircuitGenerator.sample(grammar=False)`` → ``Decoded`` (generation).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ...data.dataset import PAD_PATH, PAD_TYPE, Batch, SpecScheme
from ...errors import CktGenError
from ...subgraphs import N_POSITIONS, N_TYPES
from ..cktgen import kl_normal
from ..encoders import SpecEncoder, mlp
from ..generator import CircuitGenerator, Decoded


@dataclass(frozen=True)
class PACEConfig:
    """PACE model and loss hyper-parameters (defaults: the ``cpu`` preset, sized like CktGen's)."""

    d_enc: int = 128  # encoder width (also the spec encoder's and guidance heads')
    latent: int = 64
    d_gen: int = 192  # generator width
    enc_layers: int = 3
    gen_layers: int = 4
    heads: int = 4
    ff: int = 384
    drop_emb: float = 0.2
    drop_enc: float = 0.3
    drop_gen: float = 0.1
    max_n: int = 8
    w_type: float = 1.0
    w_pos: float = 1.0
    w_size: float = 1.0
    w_edge: float = 1.0
    w_kl: float = 1e-4
    tau: float = 0.1
    w_align: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PACEConfig:
        return config_from_dict(cls, d)


PRESETS = {
    "cpu": PACEConfig(),
    "tiny": PACEConfig(
        d_enc=32,
        latent=16,
        d_gen=32,
        enc_layers=1,
        gen_layers=1,
        heads=2,
        ff=64,
        drop_emb=0.0,
        drop_enc=0.0,
        drop_gen=0.0,
    ),
}


def preset(name: str, **overrides: Any) -> PACEConfig:
    if name not in PRESETS:
        raise CktGenError(f"unknown PACE preset {name!r}; known: {', '.join(PRESETS)}")
    return replace(PRESETS[name], **overrides)


def config_from_dict(cls: type, d: dict[str, Any]) -> Any:
    """``cls(**d)``, failing on an unknown key (names it)."""
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise CktGenError(f"model config has unknown key {unknown[0]!r}")
    return cls(**d)


def ancestors(adj: torch.Tensor) -> torch.Tensor:
    """Transitive closure of a forward adjacency: ``out[b, i, j]`` iff a path i → … → j.

    Shapes:
        adj: [B, n, n] (float or bool, ``adj[b, i, j]`` for edge i → j) → [B, n, n] bool.
    """
    reach = adj > 0
    for _ in range(max(1, (adj.shape[-1] - 1).bit_length())):  # path lengths 1, 2, 4, …
        step = reach.float() @ reach.float()
        reach = reach | (step > 0)
    return reach


class DAGAttentionEncoder(nn.Module):
    """q(z_c | circuit) of PACE: transformer whose node v attends to v and its ancestors."""

    def __init__(
        self,
        d: int,
        latent: int,
        layers: int,
        heads: int,
        ff: int,
        max_n: int = 8,
        drop_emb: float = 0.2,
        drop_tf: float = 0.3,
    ) -> None:
        super().__init__()
        self.heads = heads
        self.type_emb = nn.Embedding(N_TYPES + 1, d, padding_idx=PAD_TYPE)
        self.pos_emb = nn.Embedding(N_POSITIONS + 1, d, padding_idx=PAD_PATH)
        self.order_emb = nn.Parameter(torch.randn(max_n, d) * 0.02)  # topological index
        self.drop = nn.Dropout(drop_emb)
        layer = nn.TransformerEncoderLayer(d, heads, ff, drop_tf, batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.size_branch = mlp(24, d, d)
        self.to_mu = nn.Linear(3 * d, latent)
        self.to_logvar = nn.Linear(3 * d, latent)

    def forward(self, b: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Shapes: returns μ_c, log σ_c² of [B, latent]."""
        B, n = b.types.shape
        x = self.type_emb(b.types) + self.pos_emb(b.paths) + self.order_emb[:n]
        # Query v may see key u iff u == v or u is an ancestor of v (padding: itself only).
        eye = torch.eye(n, dtype=torch.bool, device=x.device)
        see = ancestors(b.adj).transpose(1, 2) | eye  # (B, n_query, n_key)
        mask = torch.zeros(B, n, n, device=x.device).masked_fill(~see, float("-inf"))
        h = self.transformer(self.drop(x), mask=mask.repeat_interleave(self.heads, 0))
        h = self.norm(h)  # (B, n, d)
        out = h[torch.arange(B, device=h.device), b.n_nodes - 1]  # output node: sees all
        m = b.mask[..., None].float()
        mean = (h * m).sum(1) / m.sum(1).clamp(min=1)
        feat = torch.cat([out, mean, self.size_branch(b.sizes)], -1)
        return self.to_mu(feat), self.to_logvar(feat)


def aligned_loss(
    model: nn.Module,
    b: Batch,
    mu_c: torch.Tensor,
    lv_c: torch.Tensor,
    recon: Callable[[torch.Tensor, Batch], dict[str, torch.Tensor]],
) -> tuple[torch.Tensor, dict[str, float]]:
    """CktGen's loss assembly (paper eqs. 3–9) around any circuit encoder and decoder.

    ``model`` has ``config`` (w_type … w_align, tau), ``spec_encoder`` and ``guidance``;
    ``recon(z, b2)`` returns the type/pos/size/edge reconstruction losses of ``b2`` (the batch
    twice) from z = [z_c; z_s]. Terms and weights are those of ``CktGen.loss``.
    """
    c = model.config
    classes = torch.stack([b.gain, b.bw, b.pm], -1)
    mu_s, lv_s = model.spec_encoder(classes)
    z_c = mu_c + torch.randn_like(mu_c) * (0.5 * lv_c).exp()
    z_s = mu_s + torch.randn_like(mu_s) * (0.5 * lv_s).exp()
    rec = recon(torch.cat([z_c, z_s]), stack2(b))
    rec_total = c.w_type * rec["type"] + c.w_pos * rec["pos"]
    rec_total = rec_total + c.w_size * rec["size"] + c.w_edge * rec["edge"]
    kl = kl_normal(mu_c, lv_c) + kl_normal(mu_s, lv_s)
    kl = kl + kl_normal(mu_c, lv_c, mu_s, lv_s) + kl_normal(mu_s, lv_s, mu_c, lv_c)
    sim = F.normalize(mu_c, dim=-1) @ F.normalize(mu_s, dim=-1).T / c.tau + b.filter_mask
    target = torch.arange(len(sim), device=sim.device)
    nce = 0.5 * (F.cross_entropy(sim, target) + F.cross_entropy(sim.T, target))
    guide = sum(F.cross_entropy(h(z_c), classes[:, k]) for k, h in enumerate(model.guidance))
    align = F.smooth_l1_loss(z_c, z_s)
    total = 2 * rec_total + c.w_kl * kl + c.w_align * (nce + guide + align)
    terms = {"loss": total, "recon": rec_total, "kl": kl, "nce": nce, "guide": guide}
    terms.update(align=align, **{f"rec_{k}": v for k, v in rec.items()})
    return total, {k: float(v.detach()) for k, v in terms.items()}


def stack2(b: Batch) -> Batch:
    """The batch twice (rows B…2B−1 repeat rows 0…B−1), for one decoder pass over z_c, z_s."""
    flat = ("edge_index", "batch", "filter_mask")
    return Batch(*(t if k in flat else torch.cat([t, t]) for k, t in zip(Batch._fields, b)))


class PACE(nn.Module):
    """PACE encoder + CktGen's spec encoder, guidance heads and (grammar-free) generator."""

    kind: ClassVar[str] = "pace"

    def __init__(self, config: PACEConfig, scheme: SpecScheme, with_encoder: bool = True):
        super().__init__()
        self.config, self.scheme = config, scheme
        c = config
        self.circuit_encoder = (
            DAGAttentionEncoder(
                c.d_enc, c.latent, c.enc_layers, c.heads, c.ff, c.max_n, c.drop_emb, c.drop_enc
            )
            if with_encoder
            else None
        )
        self.spec_encoder = SpecEncoder(scheme.n_classes, c.d_enc, c.latent)
        self.guidance = nn.ModuleList(mlp(c.latent, c.d_enc, n) for n in scheme.n_classes)
        self.generator = CircuitGenerator(
            c.latent, c.d_gen, c.gen_layers, c.heads, c.ff, c.drop_gen, c.max_n
        )

    def loss(self, b: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """Total loss and its named terms (floats) for one batch."""
        mu_c, lv_c = self.circuit_encoder(b)
        return aligned_loss(self, b, mu_c, lv_c, self.generator)

    @torch.no_grad()
    def generate(
        self, classes: torch.Tensor, generator: torch.Generator | None = None, greedy: bool = False
    ) -> list[Decoded]:
        """One decode per row of spec classes [B, 3]: z_s = μ_s + σ_s·ε → generator."""
        mu, lv = self.spec_encoder(classes)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device)
        return self.decode(mu + eps * (0.5 * lv).exp(), generator, greedy)

    @torch.no_grad()
    def decode(
        self, z: torch.Tensor, generator: torch.Generator | None = None, greedy: bool = False
    ) -> list[Decoded]:
        """Decode latents z [B, latent] without the OCB grammar."""
        return self.generator.sample(z, generator, greedy, grammar=False)

    @torch.no_grad()
    def reconstruct(self, b: Batch) -> list[Decoded]:
        """Greedy decode of each circuit's posterior mean μ_c."""
        return self.decode(self.embed_circuits(b), greedy=True)

    @torch.no_grad()
    def embed_circuits(self, b: Batch) -> torch.Tensor:
        """μ_c [B, latent]."""
        if self.circuit_encoder is None:
            raise CktGenError("this PACE model was loaded without its circuit encoder")
        return self.circuit_encoder(b)[0]

    @torch.no_grad()
    def embed_specs(self, classes: torch.Tensor) -> torch.Tensor:
        """μ_s [B, latent] of spec classes [B, 3]."""
        return self.spec_encoder(classes)[0]
