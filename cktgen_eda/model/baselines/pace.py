"""PACE baseline (paper §2.3, Fig. 5(a)): DAG-attention transformer VAE + spec encoder.

PACE (Dong et al., ICML 2022) encodes a DAG with a transformer over its topologically sorted
nodes in which a node attends only to itself and its ancestors (the dag attention mask), so
the computation follows the DAG's partial order; node tokens are type + position embeddings
plus a topological-order embedding, with no GNN. As in CktGen's comparison, PACE gets a
specification encoder like CktGen's and CktGen's specification-circuit alignment losses
(``aligned.AlignedVAE``, shared with the CktGNN baseline). Its decoder is CktGen's transformer
generator sampled **without** the OCB grammar (``grammar=False``), as the original PACE
decodes: generated graphs may be invalid circuits, which the validity metric then counts.

Data flow: ``Batch`` → ``PACE.loss`` (training); spec classes → μ_s, σ_s → z_s →
``CircuitGenerator.sample(grammar=False)`` → ``Decoded`` (generation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from ...data.dataset import PAD_PATH, PAD_TYPE, Batch, SpecScheme
from ...subgraphs import N_POSITIONS, N_TYPES
from ..cktgen import spec_modules
from ..config import AlignmentConfig, TransformerConfig, tiny
from ..encoders import mlp
from ..generator import CircuitGenerator, Decoded
from .aligned import AlignedVAE


@dataclass(frozen=True)
class PACEConfig(AlignmentConfig, TransformerConfig):
    """PACE model and loss hyper-parameters (defaults: the ``cpu`` preset, sized like CktGen's).

    The fields are CktGen's without ``gnn_layers`` (model/config.py); ``d_enc`` is the
    DAG-attention encoder's width.
    """


PRESETS = {
    "cpu": PACEConfig(),
    "tiny": tiny(PACEConfig),
}


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


class PACE(AlignedVAE):
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
        self.spec_encoder, self.guidance = spec_modules(c, scheme)
        self.generator = CircuitGenerator.from_config(c)

    @torch.no_grad()
    def decode(
        self, z: torch.Tensor, generator: torch.Generator | None = None, greedy: bool = False
    ) -> list[Decoded]:
        """Decode latents z [B, latent] without the OCB grammar."""
        return self.generator.sample(z, generator, greedy, grammar=False)
