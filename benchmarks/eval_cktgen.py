"""Acceptance figures of a CktGen checkpoint on a benchmark's test split (docs/training.md).

1. Every test joint class × ``--rounds`` rounds, one generated circuit each: validity, and
   the verified class accuracy (ngspice-measured joint class == requested) with the
   per-attribute shares; diversity of the generated circuits' latents (circuit encoder μ_c):
   Intra-D (mean pairwise distance within a class) and Inter-D (across classes).
2. ``--specs`` random feasible specs, each a box around a real test circuit's measured
   values (gain ± 20 dB, UGF ×/÷ 2, PM ± 30°): share for which ``generate(n=16,
   verify=True)`` returns at least one circuit that ngspice confirms meets the spec. These
   boxes use the benchmark's raw convention; ``--working`` draws them around working test
   amplifiers instead (PM ± 30° around the loop margin) and needs a working amplifier to
   pass (docs/simulation.md, "Stability").

    python benchmarks/eval_cktgen.py runs/ocb101/best.pt --json benchmarks/results/x.json
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from cktgen_eda.data.dataset import CircuitDataset, clean, collate, split_datasets
from cktgen_eda.data.store import load_benchmark, unlabelled
from cktgen_eda.errors import CktGenError
from cktgen_eda.evaluation.boxes import spec_boxes
from cktgen_eda.generation import generate
from cktgen_eda.model.generator import circuits_of
from cktgen_eda.netlist.ngspice import verify
from cktgen_eda.training.checkpoint import load_model
from cktgen_eda.training.validation import test_classes


def class_accuracy(
    model, test_ds, rounds: int, seed: int, greedy: bool = False, rerank: int = 1
) -> dict:
    classes = test_classes(test_ds)
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    decoded = [
        d
        for _ in range(rounds)
        for d in model.generate(torch.tensor(classes), g, greedy=greedy, rerank=rerank)
    ]
    gen_s = time.perf_counter() - t0
    wanted = classes * rounds
    circuits = circuits_of(decoded)
    ok = [c for c in circuits if c is not None]
    res = iter(verify(ok))
    right, joint, simulated = np.zeros(3), 0, 0
    per_class: dict = {}
    for want, c in zip(wanted, circuits):
        m = next(res).measurement if c is not None else None
        got = m.spec_class if m is not None and m.valid else None
        simulated += got is not None
        hit = got is not None and tuple(got) == tuple(want)
        if got is not None:
            right += [a == w for a, w in zip(got, want)]
        joint += hit
        per_class.setdefault(tuple(want), []).append(hit)
    n = len(wanted)
    # Diversity on the circuit encoder's μ_c of the generated circuits.
    enc = load_model(model_path, with_encoder=True)
    bench = unlabelled(ok)
    ds = CircuitDataset(bench, np.arange(len(bench)), model.scheme)
    mu = enc.circuit_encoder.eval()(collate(ds.__getitems__(range(len(ds)))))[0].detach().numpy()
    labels = [tuple(w) for w, c in zip(wanted, circuits) if c is not None]
    intra, inter = diversity(mu, labels, seed)
    return {
        "classes": len(classes),
        "rounds": rounds,
        "generated": n,
        "validity": len(ok) / n,
        "simulated": simulated / n,
        "verified_class_acc": joint / n,
        "verified_gain_acc": right[0] / n,
        "verified_bw_acc": right[1] / n,
        "verified_pm_acc": right[2] / n,
        "classes_hit_at_least_once": float(np.mean([any(v) for v in per_class.values()])),
        "intra_d": intra,
        "inter_d": inter,
        "ms_per_circuit": 1000 * gen_s / n,
    }


def diversity(mu: np.ndarray, labels, seed: int, pairs: int = 20000) -> tuple[float, float]:
    """Mean L2 distance of random pairs within one class (Intra-D) and across (Inter-D)."""
    rng = np.random.default_rng(seed)
    groups: dict = {}
    for i, k in enumerate(labels):
        groups.setdefault(k, []).append(i)
    within = [g for g in groups.values() if len(g) > 1]
    if not within:
        return float("nan"), float("nan")
    a = []
    for _ in range(pairs):
        g = within[rng.integers(len(within))]
        i, j = rng.choice(g, 2, replace=False)
        a.append(np.linalg.norm(mu[i] - mu[j]))
    b = []
    while len(b) < pairs:
        i, j = rng.integers(len(mu), size=2)
        if labels[i] != labels[j]:
            b.append(np.linalg.norm(mu[i] - mu[j]))
    return float(np.mean(a)), float(np.mean(b))


def spec_hits(
    model, bench, rows, n_specs: int, seed: int, rerank: int = 1, working: bool = False
) -> dict:
    hits, times = 0, []
    for k, spec in enumerate(spec_boxes(bench, rows, n_specs, seed, working)):
        t0 = time.perf_counter()
        try:
            res = generate(spec, n=16, model=model, seed=k, verify=True, rerank=rerank)
            hits += any(c.meets for c in res.candidates)
        except CktGenError:
            pass
        times.append(time.perf_counter() - t0)
    return {
        "specs": n_specs,
        "working_boxes": working,
        "spec_hit_rate": hits / n_specs,
        "seconds_per_spec": float(np.mean(times)),
    }


def main() -> None:
    global model_path
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--dataset", default="ocb101")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--specs", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--class-only", action="store_true")
    ap.add_argument("--rerank", type=int, default=1, help="rerank K for both tasks")
    ap.add_argument("--greedy", action="store_true", help="greedy decoding (class task)")
    ap.add_argument("--spec-only", action="store_true")
    ap.add_argument("--working", action="store_true", help="spec boxes as product specs")
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(2)
    model_path = args.model
    model = load_model(args.model, with_encoder=args.rerank > 1)
    bench = load_benchmark(args.dataset)
    _, test_ds, cleaned = split_datasets(bench, drop_invalid=True)
    out = {"model": args.model, "dataset": args.dataset}
    if not args.spec_only:
        out.update(class_accuracy(model, test_ds, args.rounds, args.seed, args.greedy, args.rerank))
        print(json.dumps(out, indent=2), flush=True)
    if args.specs and not args.class_only:
        out.update(
            spec_hits(
                model, bench, cleaned.test_rows, args.specs, args.seed, args.rerank, args.working
            )
        )
    print(json.dumps(out, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


model_path = None
_ = clean  # re-exported for readers of this script

if __name__ == "__main__":
    main()
