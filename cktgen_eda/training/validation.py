"""Held-out metrics of a training run: a generative model's reconstruction accuracy, validity
and ngspice-verified class accuracy (``evaluate``), and the surrogate evaluator's report
(``evaluate_evaluator``). ``train`` validates with them; the benchmarks call them directly.
"""

from __future__ import annotations

import numpy as np
import torch

from ..data.dataset import CircuitDataset, collate, joint_key, split_key
from ..data.validity import same_dag
from ..errors import CktGenError


def test_classes(test_ds) -> list[tuple[int, int, int]]:
    """Distinct joint classes of a dataset, sorted."""
    b = test_ds.all()
    keys = sorted(set(joint_key(b.gain, b.bw, b.pm).tolist()))
    return [split_key(k) for k in keys]


@torch.no_grad()
def evaluate(
    model, test_ds, rounds: int = 1, seed: int = 0, workers: int | None = None
) -> dict[str, float]:
    """Reconstruction accuracy, validity and verified class accuracy on the test split."""
    from ..evaluation.verified import verified_accuracy

    model.eval()
    b = test_ds.all()
    rec = model.reconstruct(b)
    hits = 0
    for i, d in enumerate(rec):
        n = int(b.n_nodes[i])
        truth = (b.types[i, :n].tolist(), b.adj[i, :n, :n].nonzero().tolist())
        hits += same_dag(truth, (list(d.types), list(d.edges)))
    classes = test_classes(test_ds) * rounds
    g = torch.Generator().manual_seed(seed)
    decoded = model.generate(torch.tensor(classes), g)
    circuits, valid = [], 0
    for d in decoded:
        try:
            circuits.append(d.to_circuit())
            valid += 1
        except CktGenError:
            circuits.append(None)
    acc = verified_accuracy(circuits, np.array(classes), workers=workers)
    return {
        "recon_acc": hits / len(rec),
        "validity": valid / len(classes),
        "verified_class_acc": acc["joint"],
        "verified_gain_acc": acc["gain"],
        "verified_bw_acc": acc["bw"],
        "verified_pm_acc": acc["pm"],
    }


@torch.no_grad()
def evaluate_evaluator(ev, ds: CircuitDataset, batch_size: int = 1024) -> dict[str, float]:
    """Held-out report: per-head and joint class accuracy, FoM MAE and RMSE (CSV units).

    ``fom_rmse_over_std`` is the RMSE divided by the train FoM std (1 = predicting the mean).
    """
    was_training = ev.training
    ev.eval()
    device = next(ev.parameters()).device
    hits, fom_err, n = np.zeros(4), [], len(ds)
    for start in range(0, n, batch_size):
        b = collate(ds.__getitems__(range(start, min(n, start + batch_size)))).to(device)
        pred = ev.predict(b)
        right = torch.stack(
            [pred[k] == t for k, t in (("gain", b.gain), ("bw", b.bw), ("pm", b.pm))]
        )
        hits += [*right.sum(1).tolist(), int(right.all(0).sum())]
        fom_err.append((pred["fom"] - b.fom).cpu().numpy())
    ev.train(was_training)
    if n == 0:
        raise CktGenError("cannot evaluate the evaluator on an empty dataset")
    err = np.concatenate(fom_err).astype(np.float64)
    rmse = float(np.sqrt((err**2).mean()))
    acc = hits / n
    return {
        "n": n,
        "gain_acc": float(acc[0]),
        "bw_acc": float(acc[1]),
        "pm_acc": float(acc[2]),
        "joint_acc": float(acc[3]),
        "fom_mae": float(np.abs(err).mean()),
        "fom_rmse": rmse,
        "fom_rmse_over_std": rmse / ev.scheme.fom_std,
    }
