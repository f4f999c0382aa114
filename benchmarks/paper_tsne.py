"""t-SNE of circuit and spec latents for 10 joint classes (paper Fig. 6 style), one panel
per method.

100 random ocb101 circuits (train ∪ test) from each of the 10 most populated joint classes
with ≥ 100 circuits; circles are circuit latents (μ_c of each model, the surrogate's
circuit embedding), "+" marks the spec latent of each class (μ_s; none for CVAEGAN and
LDT, which have no spec encoder). Needs scikit-learn (the ``paper`` extra).

    python benchmarks/paper_tsne.py runs/paper docs/tsne_ocb101.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from cktgen_eda.data.dataset import CircuitDataset, collate, joint_key, split_datasets
from cktgen_eda.data.store import load_benchmark
from cktgen_eda.training.checkpoint import load_evaluator, load_model

PANELS = [
    ("PACE", "ocb101_pace"),
    ("CktGNN", "ocb101_cktgnn"),
    ("CVAEGAN", "ocb101_cvaegan"),
    ("LDT", "ldt"),
    ("Surrogate", "evaluator"),
    ("CktGen (shipped)", "shipped"),
]


def pick(ds, n_classes: int, per_class: int, seed: int):
    b = ds.all()
    keys = joint_key(b.gain, b.bw, b.pm).numpy()
    uniq, counts = np.unique(keys, return_counts=True)
    big = uniq[np.argsort(-counts)][:n_classes]
    big = big[counts[np.argsort(-counts)][:n_classes] >= per_class]
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.choice(np.flatnonzero(keys == k), per_class, False) for k in big])
    return big, idx, keys[idx]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--ldt", type=Path, default=Path("runs/paper/ocb101_ldt.pt"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.manifold import TSNE

    torch.set_num_threads(2)
    bench = load_benchmark("ocb101")
    train_ds, test_ds, cleaned = split_datasets(bench, drop_invalid=True)
    rows = np.concatenate([cleaned.train_rows, cleaned.test_rows])
    ds = CircuitDataset(bench, rows, cleaned.scheme)
    classes, idx, labels = pick(ds, 10, 100, args.seed)
    b = collate(ds.__getitems__(idx.tolist()))
    spec_cls = torch.tensor([[k % 1000, (k // 1000) % 1000, k // 1_000_000] for k in classes])
    fig, axes = plt.subplots(2, 3, figsize=(13, 8.5))
    colors = plt.cm.tab10(np.arange(len(classes)))
    summary = {"classes": [int(k) for k in classes], "per_class": 100}
    for ax, (title, key) in zip(axes.flat, PANELS):
        with torch.no_grad():
            if key == "evaluator":
                m = load_evaluator("ocb101").eval()
            elif key == "shipped":
                m = load_model("ocb101", with_encoder=True)
            elif key == "ldt":
                m = load_model(args.ldt, with_encoder=True)
            else:
                m = load_model(args.runs / f"{key}.pt", with_encoder=True)
            circ = m.embed_circuits(b).numpy()
            spec = m.embed_specs(spec_cls)
        pts = circ if spec is None else np.concatenate([circ, spec.numpy()])
        xy = TSNE(2, perplexity=30, random_state=args.seed, init="pca").fit_transform(pts)
        for c in range(len(classes)):
            sel = labels == classes[c]
            ax.scatter(*xy[: len(circ)][sel].T, s=8, color=colors[c], alpha=0.6)
            if spec is not None:
                ax.scatter(*xy[len(circ) + c], marker="+", s=220, color=colors[c], linewidths=3)
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
        summary[title] = _separation(circ, labels)
    fig.suptitle("ocb101: circuit latents (dots) and spec latents (+) of 10 joint classes")
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(json.dumps(summary, indent=2))
    out_json = Path(__file__).parent / "results" / "paper" / "tsne_ocb101.json"
    out_json.write_text(json.dumps(summary, indent=2))


def _separation(emb: np.ndarray, labels: np.ndarray) -> float:
    """Silhouette-like ratio: mean distance to other classes' centroids / own centroid."""
    cents = {k: emb[labels == k].mean(0) for k in np.unique(labels)}
    own = np.mean([np.linalg.norm(e - cents[k]) for e, k in zip(emb, labels)])
    other = np.mean(
        [np.linalg.norm(e - cents[j]) for e, k in zip(emb, labels) for j in cents if j != k]
    )
    return float(other / own)


if __name__ == "__main__":
    main()
