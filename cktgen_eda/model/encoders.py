"""Circuit and specification encoders (paper §2.2.1): circuit/spec → (μ, log σ²).

circuit → type + position embeddings → GNN (torch-geometric GIN) connectivity embedding →
transformer with two learnable distribution tokens → (μ₀, log σ₀²), each merged with the
device-size branch → (μ_c, log σ_c²). spec classes → three embeddings → MLP → (μ_s, log σ_s²).
"""

from __future__ import annotations

import torch
from torch import nn

from ..data.dataset import PAD_PATH, PAD_TYPE, Batch
from ..subgraphs import N_POSITIONS, N_TYPES


def mlp(d_in: int, d_hidden: int, d_out: int, dropout: float = 0.0) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(d_in, d_hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_hidden, d_out)
    )


class CircuitEncoder(nn.Module):
    """q(z_c | circuit): GIN connectivity embedding + transformer with distribution tokens."""

    def __init__(
        self,
        d: int,
        latent: int,
        layers: int,
        heads: int,
        ff: int,
        gnn_layers: int = 2,
        drop_emb: float = 0.2,
        drop_tf: float = 0.3,
    ) -> None:
        super().__init__()
        from torch_geometric.nn import GINConv  # only the encoder needs torch-geometric

        self.type_emb = nn.Embedding(N_TYPES + 1, d, padding_idx=PAD_TYPE)
        self.pos_emb = nn.Embedding(N_POSITIONS + 1, d, padding_idx=PAD_PATH)
        self.drop = nn.Dropout(drop_emb)
        self.gnn = nn.ModuleList(
            GINConv(mlp(d, d, d, drop_emb), train_eps=True) for _ in range(gnn_layers)
        )
        self.dist_tokens = nn.Parameter(torch.randn(2, d) * 0.02)  # μ and log σ² tokens
        self.order_emb = nn.Parameter(torch.randn(16, d) * 0.02)  # index in topological order
        layer = nn.TransformerEncoderLayer(d, heads, ff, drop_tf, batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.size_branch = mlp(24, d, d)
        self.to_mu = nn.Linear(2 * d, latent)
        self.to_logvar = nn.Linear(2 * d, latent)

    @classmethod
    def from_config(cls, c) -> CircuitEncoder:
        """The encoder a ``TransformerConfig`` with ``gnn_layers`` describes (CktGen, CVAEGAN)."""
        return cls(
            c.d_enc, c.latent, c.enc_layers, c.heads, c.ff, c.gnn_layers, c.drop_emb, c.drop_enc
        )

    def forward(self, b: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Shapes: returns μ_c, log σ_c² of [B, latent]."""
        B, n = b.types.shape
        x = self.drop(self.type_emb(b.types) + self.pos_emb(b.paths))  # (B, n, d)
        flat = x[b.mask]  # (N, d) real vertices, in the order of edge_index
        for conv in self.gnn:
            flat = flat + conv(flat, b.edge_index)
        h = torch.zeros_like(x)
        h[b.mask] = flat
        h = h + self.order_emb[:n]
        tokens = self.dist_tokens.expand(B, 2, -1)
        seq = torch.cat([tokens, h], dim=1)  # (B, 2 + n, d)
        pad = torch.cat([torch.zeros(B, 2, dtype=torch.bool, device=h.device), ~b.mask], 1)
        out = self.transformer(seq, src_key_padding_mask=pad)
        s = self.size_branch(b.sizes)  # device sizes, merged into both distribution heads
        mu = self.to_mu(torch.cat([out[:, 0], s], -1))
        logvar = self.to_logvar(torch.cat([out[:, 1], s], -1))
        return mu, logvar


class SpecEncoder(nn.Module):
    """q(z_s | spec): gain, bw and pm class embeddings → MLP → (μ_s, log σ_s²)."""

    def __init__(self, n_classes: tuple[int, int, int], d: int, latent: int) -> None:
        super().__init__()
        self.embs = nn.ModuleList(nn.Embedding(n, d) for n in n_classes)
        self.body = nn.Sequential(nn.Linear(3 * d, d), nn.GELU(), nn.Linear(d, d), nn.GELU())
        self.to_mu = nn.Linear(d, latent)
        self.to_logvar = nn.Linear(d, latent)

    def forward(self, classes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Shapes: classes [B, 3] long (gain, bw, pm) → μ_s, log σ_s² of [B, latent]."""
        h = self.body(torch.cat([e(classes[:, k]) for k, e in enumerate(self.embs)], -1))
        return self.to_mu(h), self.to_logvar(h)
