"""The paper's evaluation tasks on one model: load, split, run, one flat dict of metrics.

dataset + model (+ surrogate evaluator) → **cond-gen / recon / uncond** → metrics. This is
what ``cktgen-eda evaluate --task cond-gen|recon|uncond`` runs; the CLI only renders the
dict. The auto-design protocol is ``auto_design.run``.
"""

from __future__ import annotations

from typing import Any

TASKS = ("cond-gen", "recon", "uncond")

# The simulator's verdicts, listed right after the surrogate's Spec-Acc (cond-gen).
BESIDE_SPEC_ACC = (
    "verified_spec_acc",
    "verified_working_spec_acc",
    "stable_share",
    "cl_stable_share",
    "working_share",
)


def run_task(
    task: str,
    dataset: str = "ocb101",
    model: str | None = None,
    evaluator: str | None = None,
    rounds: int = 120,
    samples: int = 1000,
    verify: bool = True,
    workers: int | None = None,
    refine: bool = False,
    simulator: str = "ngspice",
    temperature: float = 1.0,
) -> dict[str, Any]:
    """Run one paper task on a dataset's test split; a flat dict of metrics.

    Torch runs on ``workers`` threads (default 2) while the task runs, the count the
    simulator's worker processes get too.

    Args:
        task: ``cond-gen`` (§3.2), ``recon`` or ``uncond`` (§3.4).
        dataset: a shipped benchmark name or a benchmark ``.npz`` path.
        model: a shipped model name or a checkpoint path (default: the model shipped for
            ``dataset``, else the default model).
        evaluator: cond-gen's surrogate evaluator, shipped name or path (default: the
            dataset's).
        rounds: cond-gen rounds.
        samples: uncond prior latents (each decoded 10 times).
        verify: cond-gen: judge the generated circuits with ``simulator`` too.
        refine: cond-gen: size every decode into its requested class first.
        simulator: a ``plugins.simulators()`` name (cond-gen's judge).
        temperature: cond-gen: the decoder's sampling temperature (1, the paper's
            protocol, whatever the model's own default; ``generation.decode_temperature``).

    Returns:
        ``task``, ``dataset`` and ``model`` (its path), then the task's metrics; for
        cond-gen the simulator's Spec-Accs and stability shares follow ``spec_acc``.

    Raises:
        CktGenError: an unknown task or simulator, or a dataset, model or evaluator that
            cannot be loaded.
    """
    from ..data.dataset import split_datasets
    from ..data.store import load_benchmark
    from ..errors import CktGenError
    from ..generation import decode_options, torch_threads
    from ..training.checkpoint import load_model, model_path
    from . import cond_gen, recon

    if task not in TASKS:
        raise CktGenError(f"unknown task {task!r}; known tasks: {', '.join(TASKS)}")
    if task == "cond-gen" and verify:
        from ..plugins import get_simulator

        get_simulator(simulator)  # an unknown name fails before minutes of generation
    with torch_threads(workers or 2):
        bench = load_benchmark(dataset)
        train_ds, test_ds, _ = split_datasets(bench, drop_invalid=True)
        model = model or model_for_dataset(dataset)
        net = load_model(model, with_encoder=task != "cond-gen")
        head = {"task": task, "dataset": dataset, "model": str(model_path(model))}
        if task == "recon":
            return {**head, **recon.reconstruction(net, test_ds)}
        if task == "uncond":
            return {**head, **recon.unconditional(net, train_ds, n_latents=samples)}
        from ..training.checkpoint import load_evaluator

        judge = load_evaluator(evaluator or dataset)
        metrics = cond_gen.run(
            net,
            judge,
            test_ds,
            rounds=rounds,
            verify=verify,
            workers=workers,
            refine=refine,
            simulator=simulator,
            **decode_options(net, temperature),
        )
        if temperature != 1.0:
            head["temperature"] = temperature
    return beside_spec_acc({**head, **metrics})


def model_for_dataset(dataset: str) -> str | None:
    """The shipped model trained on ``dataset`` (the paper protocol's default), else None:
    the default model."""
    from ..training.checkpoint import shipped_models

    return dataset if dataset in shipped_models() else None


def beside_spec_acc(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` with the simulator's Spec-Accs and stability shares moved after
    ``spec_acc``."""
    if "spec_acc" not in result:
        return result
    moved = [k for k in BESIDE_SPEC_ACC if k in result]
    out = {}
    for k, v in result.items():
        if k in moved:
            continue
        out[k] = v
        if k == "spec_acc":
            out.update({m: result[m] for m in moved})
    return out
