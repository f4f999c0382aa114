"""GPT-like circuit generator (paper §2.2.3): latent z → node types, positions, sizes, edges.

z is projected to the first token; node k's token embeds its type, position and sizes. A
causal transformer gives H, where H[t] has seen z and nodes 0…t−1 and predicts node t: its
type, its position (given the type), its device sizes (given type and position), and its
edges from every earlier node j < t through a pairwise edge MLP. Decoding stops at the
output type, and edges only ever point from earlier to later nodes, so every output is a
DAG. Sampling follows the OCB grammar, so every decode is an amplifier the OCB testbench can
simulate: it masks (type, position) pairs the OCB generator cannot produce (used positions,
types outside the position's set, stages out of order, an output before two stages). Edges:
a main node (stage or output) is fed by the previous main node plus the open side paths
(no successor yet) whose edge scores above ½, and the output by every open side path; a
side node takes exactly one predecessor, the highest-scoring main node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..circuit import Circuit, Node
from ..data.dataset import PAD_PATH, PAD_TYPE, Batch
from ..errors import CktGenError
from ..subgraphs import ALLOWED_TYPES, N_POSITIONS, N_TYPES, SUBGRAPH_TYPES
from .encoders import mlp

SLOT_INDEX = {"r": 0, "c": 1, "gm": 2}
LOG_FLOOR = 1e-3  # sizes are OCB values / 100 on a 0.1 grid, so real ones are ≥ 1e-3
# allowed[t, p]: type t may sit at position p (the released OCB generator's sets).
ALLOWED = torch.zeros(N_TYPES, N_POSITIONS, dtype=torch.bool)
for _p, _types in ALLOWED_TYPES.items():
    ALLOWED[list(_types), _p] = True
# present[t, s]: type t has device slot s (r, c, gm).
PRESENT = torch.tensor(
    [[s in t.components for s in ("r", "c", "gm")] for t in SUBGRAPH_TYPES], dtype=torch.bool
)


@dataclass(frozen=True)
class Decoded:
    """One generated circuit as decoded (before validation).

    Attributes:
        types, paths: node types and positions in generation (topological) order.
        sizes: per node (r, c, gm) OCB feature values / 100 as regressed (absent slots 0).
        edges: (tail, head) pairs, tail < head.
        complete: False when decoding hit ``max_n`` nodes without an output node.
    """

    types: tuple[int, ...]
    paths: tuple[int, ...]
    sizes: tuple[tuple[float, float, float], ...]
    edges: tuple[tuple[int, int], ...]
    complete: bool = True

    def to_circuit(self, meta: dict | None = None) -> Circuit:
        """The decoded circuit, validated; sizes become OCB values on the 0.1 grid (≥ 0).

        Raises:
            DAGError: when the decoded graph is not a valid circuit (names the reason).
        """
        nodes = []
        for t, p, s in zip(self.types, self.paths, self.sizes):
            comps = SUBGRAPH_TYPES[t].components
            values = [max(0.0, round(s[SLOT_INDEX[k]] * 100, 1)) for k in comps]
            nodes.append(Node.from_ocb(t, p, values))
        return Circuit(tuple(nodes), tuple(sorted(self.edges)), None, meta).validate()


def circuits_of(decoded: list[Decoded]) -> list[Circuit | None]:
    """Each decode as a validated ``Circuit``, or None where it is not a valid circuit."""
    out: list[Circuit | None] = []
    for d in decoded:
        try:
            out.append(d.to_circuit())
        except CktGenError:
            out.append(None)
    return out


class CircuitGenerator(nn.Module):
    """p(circuit | z) as a causal transformer over node tokens."""

    def __init__(
        self,
        latent: int,
        d: int,
        layers: int,
        heads: int,
        ff: int,
        dropout: float = 0.1,
        max_n: int = 8,
        log_sizes: bool = False,
    ) -> None:
        super().__init__()
        self.max_n = max_n
        # log_sizes: the size head predicts log(size) and is trained on relative error
        # (UGF ∝ gm / C, so a ratio error is what moves a circuit between bw classes).
        self.log_sizes = log_sizes
        self.z_proj = nn.Linear(latent, d)
        self.type_emb = nn.Embedding(N_TYPES + 1, d, padding_idx=PAD_TYPE)
        self.pos_emb = nn.Embedding(N_POSITIONS + 1, d, padding_idx=PAD_PATH)
        self.size_emb = nn.Linear(3, d)
        self.order_emb = nn.Parameter(torch.randn(max_n + 1, d) * 0.02)
        layer = nn.TransformerEncoderLayer(d, heads, ff, dropout, batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.type_head = nn.Linear(d, N_TYPES)
        self.pos_head = mlp(2 * d, d, N_POSITIONS)
        self.size_head = mlp(3 * d, d, 3)
        self.edge_query = mlp(3 * d, d, d)
        self.edge_key = nn.Linear(d, d)
        self.edge_out = nn.Sequential(nn.GELU(), nn.Linear(d, d), nn.GELU(), nn.Linear(d, 1))
        mask = torch.triu(torch.full((max_n + 1, max_n + 1), float("-inf")), diagonal=1)
        self.register_buffer("causal", mask, persistent=False)

    @classmethod
    def from_config(cls, c, log_sizes: bool = False) -> CircuitGenerator:
        """The generator a ``TransformerConfig`` describes (CktGen, PACE, CVAEGAN)."""
        return cls(c.latent, c.d_gen, c.gen_layers, c.heads, c.ff, c.drop_gen, c.max_n, log_sizes)

    # ------------------------------------------------------------------ pieces
    def _hidden(self, z: torch.Tensor, types, paths, sizes) -> torch.Tensor:
        """H [B, m+1, d] for z and the first m nodes (types/paths [B, m], sizes [B, m, 3])."""
        tok = self.type_emb(types) + self.pos_emb(paths) + self.size_emb(sizes)
        seq = torch.cat([self.z_proj(z)[:, None], tok], 1)
        m = seq.shape[1]
        seq = seq + self.order_emb[:m]
        return self.norm(self.transformer(seq, mask=self.causal[:m, :m], is_causal=True))

    def _step(self, cache: list[list[torch.Tensor]], token: torch.Tensor, m: int) -> torch.Tensor:
        """Incremental ``_hidden`` for decoding: append one token at position m.

        With causal attention, earlier positions never change when a token is appended, so
        each layer keeps its inputs of positions < m (``cache``) and computes the new
        position only (a key/value cache; pre-norm ``TransformerEncoderLayer`` maths).
        Returns H[:, m] [B, d]; equals ``_hidden(...)[:, m]`` up to float rounding.
        """
        x = token + self.order_emb[m]
        for layer, past in zip(self.transformer.layers, cache):
            past.append(x)
            seq = layer.norm1(torch.stack(past, 1))  # (B, m+1, d) keys and values
            q = seq[:, -1:]
            x = x + layer.self_attn(q, seq, seq, need_weights=False)[0][:, 0]
            x = x + layer.linear2(layer.activation(layer.linear1(layer.norm2(x))))
        return self.norm(x)

    def predict_sizes(self, ctx: torch.Tensor) -> torch.Tensor:
        """Device sizes (r, c, gm) / 100 ≥ 0 from node contexts [..., 3d]."""
        out = self.size_head(ctx)
        return out.exp() if self.log_sizes else out.clamp(min=0)

    def _token(self, types, paths, sizes) -> torch.Tensor:
        return self.type_emb(types) + self.pos_emb(paths) + self.size_emb(sizes)

    def _node_ctx(self, h_t, types_t, paths_t):
        te, pe = self.type_emb(types_t), self.pos_emb(paths_t)
        return te, pe, torch.cat([h_t, te, pe], -1)

    def _edge_logits(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """Pairwise edge MLP: query [..., d] (node t), keys [..., J, d] (nodes j) → [..., J].

        The pair feature is q_t + k_j (a linear layer over the concatenated pair, split in
        two), so the cost is linear, not quadratic, in the first layer.
        """
        return self.edge_out(query.unsqueeze(-2) + keys).squeeze(-1)

    # ----------------------------------------------------------------- training
    def forward(self, z: torch.Tensor, b: Batch) -> dict[str, torch.Tensor]:
        """Teacher-forced reconstruction losses of batch ``b`` from latents z [B, latent]."""
        n = b.types.shape[1]
        types, paths = b.types, b.paths
        h = self._hidden(z, types, paths, b.node_sizes)  # (B, n+1, d)
        ht = h[:, :n]  # ht[:, t] predicts node t
        te, pe, ctx = self._node_ctx(ht, types, paths)
        loss_type = F.cross_entropy(self.type_head(ht).transpose(1, 2), b.types_gt, ignore_index=-1)
        loss_pos = F.cross_entropy(
            self.pos_head(torch.cat([ht, te], -1)).transpose(1, 2), b.paths_gt, ignore_index=-1
        )
        present = PRESENT.to(z.device)[types.clamp(max=N_TYPES - 1)] & b.mask[..., None]
        if self.log_sizes:
            target = b.node_sizes.clamp(min=LOG_FLOOR).log()
            size_err = F.smooth_l1_loss(self.size_head(ctx), target, reduction="none", beta=0.1)
        else:
            size_err = F.smooth_l1_loss(
                self.size_head(ctx), b.node_sizes, reduction="none", beta=0.05
            )
        loss_size = (size_err * present).sum() / present.sum().clamp(min=1)
        # Edges into node t from nodes j < t: query from node t, key = H[j+1] (has seen node j).
        q = self.edge_query(ctx)  # (B, n, d)
        k = self.edge_key(h[:, 1 : n + 1])  # (B, n, d): key of node j
        logits = self.edge_out(q[:, :, None] + k[:, None]).squeeze(-1)
        # logits[b, t, j] scores edge j → t; valid where j < t < n_nodes
        pair = torch.tril(torch.ones(n, n, dtype=torch.bool, device=z.device), -1)
        valid = pair & b.mask[:, :, None] & b.mask[:, None, :]
        target = b.adj.transpose(1, 2)  # target[b, t, j] = adj[b, j, t]
        loss_edge = F.binary_cross_entropy_with_logits(logits[valid], target[valid])
        return {"type": loss_type, "pos": loss_pos, "size": loss_size, "edge": loss_edge}

    # ----------------------------------------------------------------- sampling
    @torch.inference_mode()
    def sample(
        self,
        z: torch.Tensor,
        generator: torch.Generator | None = None,
        greedy: bool = False,
        grammar: bool = True,
        temperature: float = 1.0,
    ) -> list[Decoded]:
        """Decode each latent z [B, latent] into a circuit (see module docstring).

        ``temperature`` divides the type and position logits (and, without the grammar,
        the edge logits) before sampling: below 1 the decoder keeps closer to its most
        likely choices, at 1 it samples the trained distribution; ignored when greedy.

        ``grammar=False`` decodes unconstrained, as the PACE and CktGNN baselines do (paper
        §2.3): node 0 is still the input (type 0, position 0), then any of the 26 types and
        8 positions, and an edge j → t from every earlier node j with probability
        σ(logit) (greedy: logit > 0). Decodes may then be invalid circuits; a row that
        reaches ``max_n`` nodes without an output is returned with ``complete=False``.
        """
        if not temperature > 0:
            raise CktGenError(f"decode temperature must be > 0, found {temperature}")
        B, dev, n = z.shape[0], z.device, self.max_n
        rows = torch.arange(B, device=dev)
        types = torch.full((B, n), PAD_TYPE, dtype=torch.long, device=dev)
        paths = torch.full((B, n), PAD_PATH, dtype=torch.long, device=dev)
        sizes = torch.zeros(B, n, 3, device=dev)
        adj = torch.zeros(B, n, n, dtype=torch.bool, device=dev)
        used = torch.zeros(B, N_POSITIONS, dtype=torch.bool, device=dev)
        is_main = torch.zeros(B, n, dtype=torch.bool, device=dev)  # input, stages, output
        chain_end = torch.zeros(B, dtype=torch.long, device=dev)  # last main node so far
        done = torch.zeros(B, dtype=torch.bool, device=dev)
        length = torch.full((B,), n, dtype=torch.long, device=dev)
        allowed = ALLOWED.to(dev)
        anything = torch.ones(B, max(N_TYPES, N_POSITIONS), dtype=torch.bool, device=dev)
        cache: list[list[torch.Tensor]] = [[] for _ in self.transformer.layers]
        outs = [self._step(cache, self.z_proj(z), 0)]  # H[:, 0]: sees z only
        for t in range(n):
            h = outs[t]
            if t == 0:  # the input node
                ty = torch.zeros(B, dtype=torch.long, device=dev)
                po = torch.zeros(B, dtype=torch.long, device=dev)
            elif not grammar:  # any type, then any position
                ty = _pick(self.type_head(h), anything[:, :N_TYPES], generator, greedy, temperature)
                pos_logits = self.pos_head(torch.cat([h, self.type_emb(ty)], -1))
                po = _pick(pos_logits, anything[:, :N_POSITIONS], generator, greedy, temperature)
            else:
                free = allowed[None] & ~used[:, None, :]  # (B, types, positions)
                free[:, :, 3] &= used[:, None, 2]  # stages in order: S2 after S1, S3 after S2
                free[:, :, 4] &= used[:, None, 3]
                free[:, 1, 1] &= used[:, 2] & used[:, 3]  # the output only after two stages
                if t == n - 1:  # last slot: the output or nothing
                    free[:, 2:] = False
                type_ok = free.any(-1)
                ty = _pick(self.type_head(h), type_ok, generator, greedy, temperature)
                te = self.type_emb(ty)
                pos_ok = free[rows, ty]
                po = _pick(
                    self.pos_head(torch.cat([h, te], -1)), pos_ok, generator, greedy, temperature
                )
            live = ~done
            types[live, t], paths[live, t] = ty[live], po[live]
            _, _, ctx = self._node_ctx(h, ty, po)
            sizes[live, t] = self.predict_sizes(ctx)[live]
            used[rows[live], po[live]] = True
            main = (ty == 0) | (ty == 1) | (po == 2) | (po == 3) | (po == 4)
            is_main[live, t] = main[live]
            if t > 0:
                keys = self.edge_key(torch.stack(outs[1 : t + 1], 1))  # H of nodes 0…t−1
                logits = self._edge_logits(self.edge_query(ctx), keys)
            if t > 0 and not grammar:  # every earlier node, independently
                p_edge = (logits / temperature).sigmoid()
                e = logits > 0 if greedy else torch.bernoulli(p_edge, generator=generator) > 0
                adj[live, :t, t] = e[live]
            elif t > 0:
                open_side = ~is_main[:, :t] & ~adj[:, :t, :t].any(-1)  # side, no successor yet
                # main node: its chain predecessor, plus open side paths the model picks (the
                # output takes every open one); side node: exactly one main predecessor.
                e_main = (open_side & (logits > 0)) | (open_side & (ty == 1)[:, None])
                e_main[rows, chain_end] = True
                side_logits = logits.masked_fill(~is_main[:, :t], -math.inf)
                e_side = torch.zeros_like(e_main)
                e_side[rows, side_logits.argmax(-1)] = True
                e = torch.where(main[:, None], e_main, e_side)
                adj[live, :t, t] = e[live]
            chain_end = torch.where(live & main, torch.full_like(chain_end, t), chain_end)
            ended = live & (ty == 1)
            length[ended] = t + 1
            done |= ended
            if bool(done.all()):
                break
            if t + 1 < n:  # H[:, t+1] has seen node t
                tok = self._token(types[:, t], paths[:, t], sizes[:, t])
                outs.append(self._step(cache, tok, t + 1))
        out = []
        for i in range(B):
            m = int(length[i])
            ed = adj[i, :m, :m].nonzero().tolist()
            out.append(
                Decoded(
                    tuple(types[i, :m].tolist()),
                    tuple(paths[i, :m].tolist()),
                    tuple(tuple(round(x, 6) for x in s) for s in sizes[i, :m].tolist()),
                    tuple((a, c) for a, c in ed),
                    bool(done[i]),
                )
            )
        return out


def _pick(
    logits: torch.Tensor, ok: torch.Tensor, generator, greedy: bool, temperature: float = 1.0
) -> torch.Tensor:
    """Sample at ``temperature`` (or argmax) among allowed entries; logits, ok [B, K] → [B]."""
    logits = (logits / temperature).masked_fill(~ok, -math.inf)
    none = ~ok.any(-1)
    logits[none] = 0.0  # finished rows: anything (ignored by the caller)
    if greedy:
        return logits.argmax(-1)
    return torch.multinomial(torch.softmax(logits, -1), 1, generator=generator).squeeze(-1)
