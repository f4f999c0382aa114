"""Train several CktGen sizes side by side for a fixed wall time (used on a GPU machine).

Each configuration trains in its own process with ``TrainConfig(minutes=…, eval_every=0)``
(no ngspice needed there); afterwards the weights are re-saved without optimizer state into
OUT as NAME.pt next to NAME.log.jsonl, for evaluation with ngspice on a CPU machine
(``benchmarks/eval_cktgen.py``). docs/training.md records the runs.

    python benchmarks/train_sweep.py OUT --minutes 8 --device cuda
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import shutil
from pathlib import Path

CONFIGS = {
    "d64": dict(d_enc=64, d_gen=64, ff=128, enc_layers=2, gen_layers=3),
    "d128": dict(d_gen=128, ff=256, enc_layers=2, gen_layers=3),
    "d192": dict(),  # the cpu preset (shipped model)
}


def run(name: str, out: str, minutes: float, device: str, epochs: int, init: str, lr: float):
    from cktgen_eda.training.train import TrainConfig, train

    cfg = TrainConfig(
        epochs=epochs, minutes=minutes, eval_every=0, device=device, threads=2, init=init, lr=lr
    )
    train(cfg, Path(out) / f"run_{name}", progress=False, overrides=CONFIGS[name])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--minutes", type=float, default=8.0)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--epochs", type=int, default=100000)
    ap.add_argument("--only", nargs="*", default=list(CONFIGS))
    ap.add_argument("--init", default="", help="start from this checkpoint (one config)")
    ap.add_argument("--lr", type=float, default=1e-3)
    args = ap.parse_args()
    work = Path("/tmp/sweep")
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(
            target=run,
            args=(n, str(work), args.minutes, args.device, args.epochs, args.init, args.lr),
        )
        for n in args.only
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    from cktgen_eda.training.checkpoint import load_model, read_checkpoint, save_checkpoint

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for n in args.only:
        run_dir = work / f"run_{n}"
        state = read_checkpoint(run_dir / "last.pt")
        model = load_model(run_dir / "last.pt", with_encoder=True)
        save_checkpoint(out / f"{n}.pt", model, state["info"])
        shutil.copy(run_dir / "log.jsonl", out / f"{n}.log.jsonl")
        print(n, state["info"]["epoch"], "epochs", flush=True)


if __name__ == "__main__":
    main()
