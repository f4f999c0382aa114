"""Where verified Spec-Acc is lost: ngspice classes of *reconstructed* test circuits.

Each test circuit is encoded and decoded greedily from its posterior mean (Recon-Acc ≈ 99.9 %:
the topology comes back exactly), then simulated; the share whose measured joint class equals
the circuit's own shows how much the device-size regression alone loses. Also the relative
error of the decoded device values against the originals.

    python benchmarks/recon_verified.py ocb101 \
        --json benchmarks/results/paper/recon_verified_ocb101.json
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from cktgen_eda.data.dataset import split_datasets
from cktgen_eda.data.store import load_benchmark
from cktgen_eda.fileio import atomic_write
from cktgen_eda.model.generator import circuits_of
from cktgen_eda.netlist.ngspice import verify
from cktgen_eda.training.checkpoint import load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="shipped name or checkpoint")
    ap.add_argument("--dataset", default="ocb101")
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(2)
    _, test_ds, _ = split_datasets(load_benchmark(args.dataset), drop_invalid=True)
    model = load_model(args.model, with_encoder=True)
    b = test_ds.all()
    decoded = model.reconstruct(b)
    want = torch.stack([b.gain, b.bw, b.pm], -1).numpy()
    circuits = circuits_of(decoded)
    results = iter(verify([c for c in circuits if c is not None]))
    got = np.full((len(circuits), 3), -1)
    for i, c in enumerate(circuits):
        m = next(results).measurement if c is not None else None
        if m is not None and m.valid:
            got[i] = m.spec_class
    same = got == want
    errors = []
    for i, d in enumerate(decoded):
        n = int(b.n_nodes[i])
        if len(d.sizes) == n:
            truth = b.node_sizes[i, :n].numpy()
            mask = truth > 0
            errors.append(np.abs(np.array(d.sizes)[mask] - truth[mask]) / truth[mask])
    err = np.concatenate(errors)
    out = {
        "model": args.model,
        "dataset": args.dataset,
        "circuits": len(circuits),
        "verified_gain": float(same[:, 0].mean()),
        "verified_bw": float(same[:, 1].mean()),
        "verified_pm": float(same[:, 2].mean()),
        "verified_joint": float(same.all(1).mean()),
        "size_rel_error_median": float(np.median(err)),
        "size_rel_error_p90": float(np.quantile(err, 0.9)),
    }
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        atomic_write(args.json, text + "\n")


if __name__ == "__main__":
    main()
