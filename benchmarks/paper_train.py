"""Train every model of the paper's tables side by side, each in its own process.

The runs (``RUNS``: CktGen at the shared budget, its three ablations, the recon circuit VAE
and the baselines PACE, CktGNN and CVAEGAN, on ocb101 and ocb301) all get the same epoch
budget per dataset and a wall-time cap, and train together on one machine (an NVIDIA H200
for docs/results.md, which states each run's budget). LDT is trained afterwards from the
recon VAEs (``--only ocb101_ldt ocb301_ldt --vae-dir DIR``).

Each finished run is re-saved as NAME.pt (weights without optimizer) + NAME.log.jsonl.
With ``--pack`` the weights are stored as float16 inside tar files of at most 15 MiB (small
enough to copy off a GPU machine); ``--unpack`` restores float32 checkpoints from them.

    python benchmarks/paper_train.py OUT --device cuda --minutes 7.5 --pack
    python benchmarks/paper_train.py OUT --unpack PACK_DIR
    python benchmarks/paper_train.py /tmp/smoke --smoke          # tiny presets, CPU, 1 epoch
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing as mp
import shutil
import tarfile
import time
from pathlib import Path

# name → (kind, preset, overrides); the dataset is a prefix of the name.
MODELS = {
    "cktgen": ("cktgen", "cpu", {}),
    "cktgen_no_kl": ("cktgen", "cpu", {"w_kl": 0.0}),
    "cktgen_no_align": ("cktgen", "cpu", {"w_align": 0.0}),
    "cktgen_no_kl_align": ("cktgen", "cpu", {"w_kl": 0.0, "w_align": 0.0}),
    "recon": ("cktgen", "recon", {}),
    "pace": ("pace", "cpu", {}),
    "cktgnn": ("cktgnn", "cpu", {}),
    "cvaegan": ("cvaegan", "cpu", {}),
    "ldt": ("ldt", "cpu", {}),  # denoiser on the frozen DATASET_recon VAE (--vae-dir)
}
RUNS = [f"ocb101_{m}" for m in MODELS] + [
    f"ocb301_{m}" for m in ("cktgen", "recon", "pace", "cktgnn", "cvaegan")
]
# Budget per dataset (the wall-time cap may stop a run earlier; the summary says).
EPOCHS = {"ocb101": 64, "ocb301": 16}
BATCH = {"ocb101": 128, "ocb301": 256}


def run_one(
    name: str, work: str, device: str, minutes: float, epochs: int, smoke: bool, vae_dir: str
):
    import torch

    from cktgen_eda.training.train import TrainConfig, train

    torch.set_num_threads(1)
    dataset, model = name.split("_", 1)
    kind, preset, overrides = MODELS[model]
    cfg = TrainConfig(
        dataset=dataset,
        model=kind,
        preset="tiny" if smoke else preset,
        epochs=epochs,
        batch_size=BATCH[dataset],
        minutes=minutes,
        eval_every=0,
        device=device,
        threads=1,
        init=str(Path(vae_dir) / f"{dataset}_recon.pt") if kind == "ldt" else "",
    )
    train(cfg, Path(work) / name, progress=False, overrides=overrides)


def run_evaluator(dataset: str, work: str, device: str, minutes: float, smoke: bool):
    import torch

    from cktgen_eda.training.checkpoint import load_evaluator, save_checkpoint
    from cktgen_eda.training.train import TrainConfig, train

    torch.set_num_threads(1)
    run = Path(work) / f"evaluator_{dataset}"
    cfg = TrainConfig.for_model(
        "evaluator",
        dataset=dataset,
        preset="tiny" if smoke else "cpu",
        device=device,
        minutes=minutes,
        threads=1,
        **({"epochs": 1} if smoke else {}),
    )
    last = train(cfg, run, progress=False)
    final = Path(work) / "final"
    final.mkdir(parents=True, exist_ok=True)
    ev = load_evaluator(last)
    save_checkpoint(final / f"evaluator_{dataset}.pt", ev, ev.info)  # without optimizer
    shutil.copy(run / "log.jsonl", final / f"evaluator_{dataset}.log.jsonl")


def collect(work: Path, out: Path, names: list[str]) -> dict:
    """Re-save each run's last checkpoint without optimizer; a summary per run."""
    from cktgen_eda.training.checkpoint import load_model, read_checkpoint, save_checkpoint

    out.mkdir(parents=True, exist_ok=True)
    summary = {}
    for n in names:
        last = work / n / "last.pt"
        if not last.exists():
            summary[n] = {"error": "no checkpoint"}
            continue
        state = read_checkpoint(last)
        model = load_model(last, with_encoder=True)
        save_checkpoint(out / f"{n}.pt", model, state["info"])
        shutil.copy(work / n / "log.jsonl", out / f"{n}.log.jsonl")
        info = state["info"]
        summary[n] = {"epochs": info["epoch"], "train_seconds": round(info["train_seconds"], 1)}
    return summary


def pack(src: Path, dest: Path, limit: int = 15 * 2**20) -> list[Path]:
    """Checkpoints (weights as float16) and logs into tar files of at most ``limit`` bytes."""
    import torch

    blobs = []
    for p in sorted(src.iterdir()):
        if p.suffix == ".pt":
            state = torch.load(p, weights_only=True)
            state["model"] = {
                k: v.half() if v.is_floating_point() else v for k, v in state["model"].items()
            }
            buf = io.BytesIO()
            torch.save(state, buf)
            blobs.append((p.name + ".fp16", buf.getvalue()))
        else:
            blobs.append((p.name, p.read_bytes()))
    dest.mkdir(parents=True, exist_ok=True)
    tars, size, tf = [], 0, None
    for name, data in blobs:
        if tf is None or size + len(data) > limit:
            if tf is not None:
                tf.close()
            tars.append(dest / f"pack{len(tars)}.tar")
            tf, size = tarfile.open(tars[-1], "w"), 0
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
        size += len(data) + 1024
    if tf is not None:
        tf.close()
    return tars


def unpack(pack_dir: Path, out: Path) -> None:
    """Inverse of ``pack``: float32 checkpoints and logs into ``out``."""
    import torch

    from cktgen_eda.fileio import atomic_write

    out.mkdir(parents=True, exist_ok=True)
    for t in sorted(pack_dir.glob("pack*.tar")):
        with tarfile.open(t) as tf:
            for m in tf.getmembers():
                data = tf.extractfile(m).read()
                if m.name.endswith(".pt.fp16"):
                    state = torch.load(io.BytesIO(data), weights_only=True)
                    state["model"] = {
                        k: v.float() if v.is_floating_point() else v
                        for k, v in state["model"].items()
                    }
                    buf = io.BytesIO()
                    torch.save(state, buf)
                    atomic_write(out / m.name[: -len(".fp16")], buf.getvalue(), force=True)
                else:
                    atomic_write(out / m.name, data, force=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--minutes", type=float, default=7.5, help="wall-time cap per run")
    ap.add_argument("--only", nargs="*", default=RUNS)
    ap.add_argument("--evaluators", nargs="*", default=["ocb301"], help="datasets")
    ap.add_argument("--pack", action="store_true", help="float16 tar files into OUT")
    ap.add_argument("--unpack", metavar="PACK_DIR", help="restore checkpoints into OUT")
    ap.add_argument("--smoke", action="store_true", help="tiny presets, 1 epoch, CPU")
    ap.add_argument("--vae-dir", default="runs/paper", help="DATASET_recon.pt for ldt runs")
    args = ap.parse_args()
    out = Path(args.out)
    if args.unpack:
        unpack(Path(args.unpack), out)
        return
    device = "cpu" if args.smoke else args.device
    work = Path("/tmp/paper_runs")
    ctx = mp.get_context("spawn")
    t0 = time.time()
    procs = []
    for n in args.only:
        epochs = 1 if args.smoke else EPOCHS[n.split("_", 1)[0]]
        p = ctx.Process(
            target=run_one,
            args=(n, str(work), device, args.minutes, epochs, args.smoke, args.vae_dir),
        )
        p.start()
        procs.append(p)
    for d in args.evaluators:
        p = ctx.Process(target=run_evaluator, args=(d, str(work), device, args.minutes, args.smoke))
        p.start()
        procs.append(p)
    for p in procs:
        p.join()
    summary = collect(work, work / "final", args.only)
    summary["_wall_seconds"] = round(time.time() - t0, 1)
    summary["_device"] = device
    (work / "final" / "paper_train_summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2), flush=True)
    if args.pack:
        for t in pack(work / "final", out):
            print(t, t.stat().st_size, flush=True)
    else:
        out.mkdir(parents=True, exist_ok=True)
        for p in (work / "final").iterdir():
            shutil.copy(p, out / p.name)


if __name__ == "__main__":
    main()
