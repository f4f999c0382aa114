"""CktGNN baseline (paper §2.3, Fig. 5(b)): D-VAE-style asynchronous GNN VAE + spec encoder.

CktGNN (Dong et al., ICLR 2023) is a two-level GNN: an inner GNN embeds each subgraph's
device-level graph and an outer, D-VAE-style asynchronous message-passing GNN runs over the
subgraph-level DAG. OCB subgraph types have a fixed internal device structure, so the inner
GNN's output is a function of the type alone and reduces here to a type embedding (plus the
node's position and device sizes). Encoder: nodes in topological order, h_v = GRU(x_v,
Σ_u gate(h_u) ⊙ map(h_u)) over the predecessors u; the graph state is h of the output node
(the last real node). Decoder (D-VAE/CktGNN): graph state g = tanh(W z); per step, type
from g, position from (g, type), sizes from (g, type, position); edges j → t from
(h_j, h_init) with h_init = GRU(x_t, g); then h_t = GRU(x_t, gated sum of the chosen
predecessors) becomes the graph state. z reaches the graph as the input node's message.

As in CktGen's comparison, CktGNN gets CktGen's spec encoder and alignment losses
(``aligned.AlignedVAE``). Sampling is unconstrained, as in the original (no OCB grammar):
generated graphs may be invalid circuits, which the validity metric then counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ...data.dataset import PAD_PATH, PAD_TYPE, Batch, SpecScheme
from ...subgraphs import N_POSITIONS, N_TYPES
from ..cktgen import spec_modules
from ..config import AlignmentConfig, VAEConfig, tiny
from ..encoders import mlp
from ..generator import PRESENT, Decoded
from .aligned import AlignedVAE


@dataclass(frozen=True)
class CktGNNConfig(AlignmentConfig, VAEConfig):
    """CktGNN model and loss hyper-parameters (defaults: the ``cpu`` preset).

    The shared fields only (model/config.py): ``d_enc`` is the encoder's GRU state,
    ``d_gen`` the decoder's.
    """


PRESETS = {"cpu": CktGNNConfig(), "tiny": tiny(CktGNNConfig)}


class GatedSum(nn.Module):
    """D-VAE's gated-sum aggregation: Σ_u w_u · σ(gate(h_u)) ⊙ map(h_u)."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.gate = nn.Linear(d, d)
        self.map = nn.Linear(d, d, bias=False)

    def forward(self, h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """Shapes: h [B, t, d] states of earlier nodes, w [B, t] edge weights → [B, d]."""
        return (w[..., None] * torch.sigmoid(self.gate(h)) * self.map(h)).sum(1)


class NodeInput(nn.Module):
    """x_v = type + position embeddings + linear(sizes) (the inner GNN's role, see above)."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.type_emb = nn.Embedding(N_TYPES + 1, d, padding_idx=PAD_TYPE)
        self.pos_emb = nn.Embedding(N_POSITIONS + 1, d, padding_idx=PAD_PATH)
        self.size_emb = nn.Linear(3, d)

    def forward(self, types, paths, sizes) -> torch.Tensor:
        return self.type_emb(types) + self.pos_emb(paths) + self.size_emb(sizes)


class AsyncEncoder(nn.Module):
    """q(z_c | circuit): asynchronous message passing in topological order."""

    def __init__(self, d: int, latent: int) -> None:
        super().__init__()
        self.inp = NodeInput(d)
        self.agg = GatedSum(d)
        self.gru = nn.GRUCell(d, d)
        self.to_mu = nn.Linear(d, latent)
        self.to_logvar = nn.Linear(d, latent)

    def forward(self, b: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Shapes: returns μ_c, log σ_c² of [B, latent]."""
        B, n = b.types.shape
        x = self.inp(b.types, b.paths, b.node_sizes)  # (B, n, d)
        hs = [self.gru(x[:, 0], torch.zeros_like(x[:, 0]))]
        for t in range(1, n):  # vertices are stored in topological order
            hs.append(self.gru(x[:, t], self.agg(torch.stack(hs, 1), b.adj[:, :t, t])))
        g = torch.stack(hs, 1)[torch.arange(B, device=x.device), b.n_nodes - 1]
        return self.to_mu(g), self.to_logvar(g)


class SequentialDecoder(nn.Module):
    """p(circuit | z): D-VAE/CktGNN node-by-node GRU decoder."""

    def __init__(self, latent: int, d: int, max_n: int = 8) -> None:
        super().__init__()
        self.max_n = max_n
        self.from_z = nn.Linear(latent, d)
        self.inp = NodeInput(d)
        self.type_head = mlp(d, d, N_TYPES)
        self.pos_head = mlp(2 * d, d, N_POSITIONS)
        self.size_head = mlp(3 * d, d, 3)
        self.init_gru = nn.GRUCell(d, d)  # the new node's state before its edges
        self.edge_head = mlp(2 * d, d, 1)
        self.agg = GatedSum(d)
        self.gru = nn.GRUCell(d, d)

    def _pos(self, g: torch.Tensor, types_t: torch.Tensor) -> torch.Tensor:
        """Position logits [B, 8] of node t from the graph state g [B, d] and its type."""
        return self.pos_head(torch.cat([g, self.inp.type_emb(types_t)], -1))

    def _size(self, g: torch.Tensor, types_t: torch.Tensor, paths_t: torch.Tensor):
        """(r, c, gm) [B, 3] of node t from g, its type and its position."""
        te, pe = self.inp.type_emb(types_t), self.inp.pos_emb(paths_t)
        return self.size_head(torch.cat([g, te, pe], -1))

    def _edges(self, hs: torch.Tensor, h_init: torch.Tensor) -> torch.Tensor:
        """Edge logits j → t: hs [B, t, d] earlier states, h_init [B, d] → [B, t]."""
        pair = torch.cat([hs, h_init[:, None].expand_as(hs)], -1)
        return self.edge_head(pair).squeeze(-1)

    def forward(self, z: torch.Tensor, b: Batch) -> dict[str, torch.Tensor]:
        """Teacher-forced reconstruction losses of batch ``b`` from latents z [B, latent]."""
        B, n = b.types.shape
        g = torch.tanh(self.from_z(z))  # graph state before any node
        hs: list[torch.Tensor] = []
        type_l, pos_l, size_p = [], [], []
        edge_l = z.new_zeros(B, n, n)  # edge_l[b, t, j] scores j → t
        for t in range(n):
            type_l.append(self.type_head(g))
            pos_l.append(self._pos(g, b.types[:, t]))
            size_p.append(self._size(g, b.types[:, t], b.paths[:, t]))
            x = self.inp(b.types[:, t], b.paths[:, t], b.node_sizes[:, t])
            if t == 0:  # the input node's message is z's state (D-VAE)
                h = self.gru(x, g)
            else:
                past = torch.stack(hs, 1)
                edge_l[:, t, :t] = self._edges(past, self.init_gru(x, g))
                h = self.gru(x, self.agg(past, b.adj[:, :t, t]))
            hs.append(h)
            g = h
        loss_type = F.cross_entropy(torch.stack(type_l, 2), b.types_gt, ignore_index=-1)
        loss_pos = F.cross_entropy(torch.stack(pos_l, 2), b.paths_gt, ignore_index=-1)
        present = PRESENT.to(z.device)[b.types.clamp(max=N_TYPES - 1)] & b.mask[..., None]
        err = F.smooth_l1_loss(torch.stack(size_p, 1), b.node_sizes, reduction="none", beta=0.05)
        loss_size = (err * present).sum() / present.sum().clamp(min=1)
        pair = torch.tril(torch.ones(n, n, dtype=torch.bool, device=z.device), -1)
        valid = pair & b.mask[:, :, None] & b.mask[:, None, :]
        target = b.adj.transpose(1, 2)
        loss_edge = F.binary_cross_entropy_with_logits(edge_l[valid], target[valid])
        return {"type": loss_type, "pos": loss_pos, "size": loss_size, "edge": loss_edge}

    @torch.inference_mode()
    def sample(
        self, z: torch.Tensor, generator: torch.Generator | None = None, greedy: bool = False
    ) -> list[Decoded]:
        """Decode latents z [B, latent] without the OCB grammar (node 0 is the input)."""
        B, dev, n = z.shape[0], z.device, self.max_n
        types = torch.full((B, n), PAD_TYPE, dtype=torch.long, device=dev)
        paths = torch.full((B, n), PAD_PATH, dtype=torch.long, device=dev)
        sizes = torch.zeros(B, n, 3, device=dev)
        adj = torch.zeros(B, n, n, dtype=torch.bool, device=dev)
        done = torch.zeros(B, dtype=torch.bool, device=dev)
        length = torch.full((B,), n, dtype=torch.long, device=dev)
        g = torch.tanh(self.from_z(z))
        hs: list[torch.Tensor] = []
        for t in range(n):
            if t == 0:
                ty = po = torch.zeros(B, dtype=torch.long, device=dev)
            else:
                ty = _draw(self.type_head(g), generator, greedy)
                po = _draw(self._pos(g, ty), generator, greedy)
            sz = self._size(g, ty, po).clamp(min=0)
            live = ~done
            types[live, t], paths[live, t], sizes[live, t] = ty[live], po[live], sz[live]
            x = self.inp(ty, po, sz)
            if t == 0:
                h = self.gru(x, g)
            else:
                past = torch.stack(hs, 1)
                logits = self._edges(past, self.init_gru(x, g))
                p_edge = logits.sigmoid()
                e = logits > 0 if greedy else torch.bernoulli(p_edge, generator=generator) > 0
                adj[live, :t, t] = e[live]
                h = self.gru(x, self.agg(past, e.float()))
            hs.append(h)
            g = h
            ended = live & (ty == 1)
            length[ended] = t + 1
            done |= ended
            if bool(done.all()):
                break
        return [
            _decoded(types[i], paths[i], sizes[i], adj[i], int(length[i]), bool(done[i]))
            for i in range(B)
        ]


def _draw(logits: torch.Tensor, generator, greedy: bool) -> torch.Tensor:
    """Sample (or argmax) one class per row: logits [B, K] → [B] long."""
    if greedy:
        return logits.argmax(-1)
    return torch.multinomial(torch.softmax(logits, -1), 1, generator=generator).squeeze(-1)


def _decoded(types, paths, sizes, adj, m: int, complete: bool) -> Decoded:
    return Decoded(
        tuple(types[:m].tolist()),
        tuple(paths[:m].tolist()),
        tuple(tuple(round(x, 6) for x in s) for s in sizes[:m].tolist()),
        tuple((a, c) for a, c in adj[:m, :m].nonzero().tolist()),
        complete,
    )


class CktGNN(AlignedVAE):
    """CktGNN encoder/decoder + CktGen's spec encoder and guidance heads."""

    kind: ClassVar[str] = "cktgnn"

    def __init__(self, config: CktGNNConfig, scheme: SpecScheme, with_encoder: bool = True):
        super().__init__()
        self.config, self.scheme = config, scheme
        c = config
        self.circuit_encoder = AsyncEncoder(c.d_enc, c.latent) if with_encoder else None
        self.spec_encoder, self.guidance = spec_modules(c, scheme)
        self.generator = SequentialDecoder(c.latent, c.d_gen, c.max_n)

    @torch.no_grad()
    def decode(
        self, z: torch.Tensor, generator: torch.Generator | None = None, greedy: bool = False
    ) -> list[Decoded]:
        """Decode latents z [B, latent] (unconstrained)."""
        return self.generator.sample(z, generator, greedy)
