"""Surrogate evaluator (paper §2.3, Fig. 5(e); docs/benchmark.md §5.2): circuit → classes + FoM.

circuit → DIGIN encoder (a directed GIN run once over the vertices in topological order)
→ circuit embedding; spec classes → spec embedder → spec embedding in the same space.
Heads on the circuit embedding predict the gain/bw/pm classes and the FoM. The paper's
metrics (docs/benchmark.md §5.3: R@k, Spec-Acc, MM-D, FID, diversity) score generated
circuits with these embeddings and predictions. ``cktgen-eda train --model evaluator``
trains one; shipped evaluators live in ``cktgen_eda/weights/evaluators/<dataset>.pt`` and
load with ``load_evaluator`` (training/checkpoint.py, like every model).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..circuit import Circuit
from ..data.dataset import PAD_PATH, PAD_TYPE, Batch, SpecScheme
from ..errors import CktGenError
from ..subgraphs import N_POSITIONS, N_TYPES
from .config import ConfigMixin


@dataclass(frozen=True)
class EvaluatorConfig(ConfigMixin):
    """Evaluator sizes and loss weights (defaults: the ``cpu`` preset, the shipped one's).

    The paper's sizes (``paper`` preset: emb 256, hidden 512, pooling 4096→2048→512) give
    ≈ 10.7 M parameters, a ≈ 43 MB file, over the 20 MB cap for shipped checkpoints. The
    default halves the widths and narrows the pooling (2048→512→256): ≈ 1.66 M parameters
    with ocb101's classes, a ≈ 6.7 MB file. ``tiny`` (≈ 19 k) is for tests.
    """

    emb: int = 128  # type, path and spec-class embeddings
    hidden: int = 256  # vertex state
    pool_hidden: int = 512
    pool_out: int = 256
    size_hidden: int = 256
    size_out: int = 8
    latent: int = 256  # circuit and spec embeddings
    head_hidden: int = 32
    dropout: float = 0.5  # inside the shared GIN MLP
    max_n: int = 8
    tau: float = 0.1  # InfoNCE temperature
    w_align: float = 0.01  # smooth-L1 between spec and circuit embeddings


PRESETS = {
    "cpu": EvaluatorConfig(),
    "paper": EvaluatorConfig(emb=256, hidden=512, pool_hidden=2048, pool_out=512),
    "tiny": EvaluatorConfig(
        emb=16, hidden=32, pool_hidden=32, pool_out=16, size_hidden=16, latent=16, dropout=0.0
    ),
}


def _head(d_in: int, d_hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.ReLU(), nn.Linear(d_hidden, d_out))


class Evaluator(nn.Module):
    """DIGIN circuit encoder, spec embedder, three class heads and a FoM regressor.

    Args:
        config: sizes and loss weights.
        scheme: class counts and the train FoM statistics (``predict`` de-normalises with them).
        with_encoder: unused; the generative models' constructor signature (model/registry.py).
    """

    kind: ClassVar[str] = "evaluator"

    def __init__(
        self, config: EvaluatorConfig, scheme: SpecScheme, with_encoder: bool = True
    ) -> None:
        super().__init__()
        self.config, self.scheme = config, scheme
        c = config
        self.type_emb = nn.Embedding(N_TYPES + 1, c.emb, padding_idx=PAD_TYPE)
        self.path_emb = nn.Embedding(N_POSITIONS + 1, c.emb, padding_idx=PAD_PATH)
        self.vertex_in = nn.Linear(2 * c.emb, c.hidden)
        # One GIN MLP shared by every vertex, with a learnable ε (GIN's "1 + ε" self weight).
        self.gin = nn.Sequential(
            nn.Linear(c.hidden, c.hidden),
            nn.ReLU(),
            nn.Dropout(c.dropout),
            nn.Linear(c.hidden, c.hidden),
        )
        self.eps = nn.Parameter(torch.zeros(1))
        self.pool = _head(c.max_n * c.hidden, c.pool_hidden, c.pool_out)
        self.size_branch = _head(3 * N_POSITIONS, c.size_hidden, c.size_out)
        self.to_latent = nn.Linear(c.pool_out + c.size_out, c.latent)
        self.spec_embs = nn.ModuleList(nn.Embedding(n, c.emb) for n in scheme.n_classes)
        # Two linear maps without a nonlinearity in between, as in the released code.
        self.spec_mlp = nn.Sequential(nn.Linear(3 * c.emb, c.latent), nn.Linear(c.latent, c.latent))
        self.class_heads = nn.ModuleList(
            _head(c.latent, c.head_hidden, n) for n in scheme.n_classes
        )
        self.fom_head = _head(c.latent, c.head_hidden, 1)

    def extra_repr(self) -> str:
        c = self.config
        return f"hidden={c.hidden}, latent={c.latent}, classes={self.scheme.n_classes}"

    # ------------------------------------------------------------------ embeddings
    def embed_circuits(self, b: Batch) -> torch.Tensor:
        """Circuit embeddings.

        Shapes:
            b.types, b.paths: [B, max_n]; b.adj: [B, max_n, max_n]; b.sizes: [B, 24]
            → [B, latent].
        """
        n = b.types.shape[1]
        if n != self.config.max_n:
            raise CktGenError(
                f"batch has {n} vertex slots, the evaluator expects {self.config.max_n}"
            )
        x = self.vertex_in(torch.cat([self.type_emb(b.types), self.path_emb(b.paths)], -1))
        mask = b.mask.to(x.dtype)  # (B, max_n)
        states: list[torch.Tensor] = []  # h_u of the vertices before v, each (B, hidden)
        for v in range(n):
            agg = x.new_zeros(x.shape[0], x.shape[2])
            if v:
                # Σ over predecessors u < v (vertices are topologically ordered): (B, hidden)
                agg = torch.einsum("bu,buh->bh", b.adj[:, :v, v], torch.stack(states, 1))
            h = self.gin((1 + self.eps) * x[:, v] + agg)
            states.append(h * mask[:, v, None])  # padding slots stay zero
        pooled = self.pool(torch.cat(states, -1))  # (B, pool_out)
        return self.to_latent(torch.cat([pooled, self.size_branch(b.sizes)], -1))

    def embed_specs(self, classes: torch.Tensor) -> torch.Tensor:
        """Spec embeddings.

        Shapes:
            classes: [B, 3] long (gain, bw, pm) → [B, latent].
        """
        e = torch.cat([emb(classes[:, k]) for k, emb in enumerate(self.spec_embs)], -1)
        return self.spec_mlp(e)

    def heads(self, z: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Class logits and z-scored FoM from circuit embeddings.

        Shapes:
            z: [B, latent] → ([gain [B, n_gain], bw [B, n_bw], pm [B, n_pm]], fom_z [B]).
        """
        return [h(z) for h in self.class_heads], self.fom_head(z).squeeze(-1)

    # ---------------------------------------------------------------------- use
    @torch.no_grad()
    def predict(self, b: Batch) -> dict[str, torch.Tensor]:
        """Predicted classes and FoM (in the module's current train/eval mode).

        Shapes:
            returns gain, bw, pm: [B] long (argmax); fom: [B] CSV-normalised FoM;
            embedding: [B, latent]; gain_logits [B, n_gain], bw_logits, pm_logits.
        """
        z = self.embed_circuits(b)
        logits, fom_z = self.heads(z)
        out = {"embedding": z, "fom": fom_z * self.scheme.fom_std + self.scheme.fom_mean}
        for name, lg in zip(("gain", "bw", "pm"), logits):
            out[name] = lg.argmax(-1)
            out[f"{name}_logits"] = lg
        return out

    def loss(self, b: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """Total loss of one batch and its named terms (floats).

        Reductions follow the released code (docs/benchmark.md §5.2): the alignment, InfoNCE and
        class terms are *summed* over the batch, the FoM smooth-L1 is a mean.
        """
        c = self.config
        classes = b.classes
        z_c, z_s = self.embed_circuits(b), self.embed_specs(classes)
        align = F.smooth_l1_loss(z_s, z_c, reduction="sum")
        # Pairs of different circuits with the same joint class are not negatives.
        sim = F.normalize(z_c, dim=-1) @ F.normalize(z_s, dim=-1).T / c.tau + b.filter_mask
        target = torch.arange(len(sim), device=sim.device)
        nce = 0.5 * (
            F.cross_entropy(sim, target, reduction="sum")
            + F.cross_entropy(sim.T, target, reduction="sum")
        )
        logits, fom_z = self.heads(z_c)
        ce = [F.cross_entropy(lg, classes[:, k], reduction="sum") for k, lg in enumerate(logits)]
        fom = F.smooth_l1_loss(fom_z, b.fom_z)
        total = c.w_align * align + nce + sum(ce) + fom
        terms = {"loss": total, "align": align, "nce": nce, "fom": fom}
        terms.update(gain=ce[0], bw=ce[1], pm=ce[2])
        return total, {k: float(v.detach()) for k, v in terms.items()}

    @torch.no_grad()
    def score_circuits(
        self, circuits: Sequence[Circuit | None], chunk: int = 4096
    ) -> dict[str, np.ndarray]:
        """Embed and score circuits in eval mode; ``None`` entries (failed decodes) are skipped.

        Shapes:
            returns mask: [n] bool (True where scored); embedding: [n, latent] float32 (0 where
            not scored); gain, bw, pm: [n] int64 (−1); fom: [n] float64 (NaN).
        """
        from ..data.dataset import CircuitDataset, collate
        from ..data.store import unlabelled

        n = len(circuits)
        keep = np.array([c is not None for c in circuits], dtype=bool)
        out = {
            "mask": keep,
            "embedding": np.zeros((n, self.config.latent), np.float32),
            "fom": np.full(n, np.nan),
            **{k: np.full(n, -1, np.int64) for k in ("gain", "bw", "pm")},
        }
        idx = np.flatnonzero(keep)
        # The placeholder labels of ``unlabelled`` must pass the class-range check.
        loose = replace(self.scheme, n_gain=2**31, n_bw=2**31, n_pm=2**31)
        device = next(self.parameters()).device
        was_training = self.training
        self.eval()
        try:
            for start in range(0, len(idx), chunk):
                part = idx[start : start + chunk]
                ds = CircuitDataset(
                    unlabelled([circuits[i] for i in part]), range(len(part)), loose
                )
                pred = self.predict(collate(ds.__getitems__(range(len(part)))).to(device))
                out["embedding"][part] = pred["embedding"].cpu().numpy()
                for k in ("gain", "bw", "pm", "fom"):
                    out[k][part] = pred[k].cpu().numpy()
        finally:
            self.train(was_training)
        return out
