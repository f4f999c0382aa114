"""Reconstruction and unconditional generation (paper §3.4, docs/benchmark.md §5.4).

- Recon-Acc: each test circuit's posterior mean, decoded once greedily, must give the same
  DAG (vertex count, type per index, in-neighbour set per index; sizes and positions are
  ignored, as CktGen's ``is_same_DAG``).
- Prior samples: ``n_latents`` z ~ N(0, I), rescaled per dimension by the mean and standard
  deviation of the training posterior means, each decoded ``decodes`` times (sampling):
  valid-DAG share, valid-circuit share and novelty (share of valid DAGs matching no
  training DAG).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from ..data.dataset import collate
from ..data.validity import is_valid_dag
from . import metrics


def dags(ds, chunk: int = 2048) -> list[tuple[list[int], list[tuple[int, int]]]]:
    """(types, edges) of every circuit of a dataset."""
    out = []
    for start in range(0, len(ds), chunk):
        b = collate(ds.__getitems__(range(start, min(len(ds), start + chunk))))
        for i in range(len(b.types)):
            n = int(b.n_nodes[i])
            edges = [tuple(e) for e in b.adj[i, :n, :n].nonzero().tolist()]
            out.append((b.types[i, :n].tolist(), edges))
    return out


def _embed(model, ds, chunk: int = 1024) -> np.ndarray:
    return np.concatenate(
        [
            model.embed_circuits(
                collate(ds.__getitems__(range(s, min(len(ds), s + chunk))))
            ).numpy()
            for s in range(0, len(ds), chunk)
        ]
    )


@torch.no_grad()
def reconstruction(model, test_ds, chunk: int = 1024) -> dict[str, Any]:
    """Recon-Acc of a model on a test split."""
    model.eval()
    decoded = []
    for s in range(0, len(test_ds), chunk):
        b = collate(test_ds.__getitems__(range(s, min(len(test_ds), s + chunk))))
        decoded.extend(model.reconstruct(b))
    truth = dags(test_ds)
    return {
        "recon_acc": metrics.recon_accuracy(truth, [metrics.dag_of(d) for d in decoded]),
        "test_circuits": len(truth),
    }


@torch.no_grad()
def unconditional(
    model, train_ds, n_latents: int = 1000, decodes: int = 10, seed: int = 0
) -> dict[str, Any]:
    """Validity and novelty of decodes of rescaled prior samples (see module docstring)."""
    model.eval()
    mu = _embed(model, train_ds)
    mean, std = mu.mean(0), mu.std(0)
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n_latents, mu.shape[1], generator=g) * torch.as_tensor(std) + torch.as_tensor(
        mean
    )
    t0 = time.perf_counter()
    decoded = model.decode(z.float().repeat_interleave(decodes, 0), g)
    seconds = time.perf_counter() - t0
    graphs = [metrics.dag_of(d) for d in decoded]
    valid_dag = [d for d in graphs if is_valid_dag(*d)]
    return {
        "samples": len(decoded),
        "valid_dag": len(valid_dag) / len(decoded),
        "validity": metrics.validity(decoded),
        "novelty": metrics.novelty(valid_dag, dags(train_ds)),
        "ms_per_circuit": 1000 * seconds / len(decoded),
    }
