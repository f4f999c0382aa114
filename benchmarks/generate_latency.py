"""Generation latency and memory of a CktGen checkpoint (docs/training.md).

Prints ms per circuit for batch 1 and batch 256 (decode only, spec classes → validated
Circuit objects), peak RSS, and the cold start of ``cktgen-eda generate`` (a fresh process
running the CLI for one candidate, without --verify).

    python benchmarks/generate_latency.py [MODEL]
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time

import torch

from cktgen_eda.errors import CktGenError
from cktgen_eda.generation import model_classes
from cktgen_eda.training.checkpoint import load_model


def per_circuit_ms(model, classes, batch: int, repeats: int) -> float:
    g = torch.Generator().manual_seed(0)
    best = float("inf")
    for _ in range(repeats):
        rows = torch.tensor([classes[i % len(classes)] for i in range(batch)])
        t0 = time.perf_counter()
        for d in model.generate(rows, g):
            try:
                d.to_circuit()
            except CktGenError:
                pass
        best = min(best, (time.perf_counter() - t0) / batch)
    return 1000 * best


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else "ocb101"
    torch.set_num_threads(2)
    model = load_model(name)
    classes = model_classes(model)
    per_circuit_ms(model, classes, 8, 1)  # warm-up
    b1 = per_circuit_ms(model, classes, 1, 20)
    b256 = per_circuit_ms(model, classes, 256, 5)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cmd = [
        sys.executable,
        "-m",
        "cktgen_eda",
        "generate",
        "--spec",
        "gain>=60dB",
        "-n",
        "1",
        "--model",
        name,
    ]
    cold = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        cold.append(time.perf_counter() - t0)
    print(
        f"model {name}: batch 1 {b1:.2f} ms/circuit, batch 256 {b256:.3f} ms/circuit, "
        f"peak RSS {peak_mb:.0f} MB, CLI cold start {min(cold):.2f} s (best of 3)"
    )


if __name__ == "__main__":
    main()
