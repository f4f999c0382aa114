"""Automated design: a multi-armed bandit over joint classes with ngspice in the loop.

spec → **arms** (the model's training classes that can meet it) → bandit picks an arm →
model generates a batch for that class → ngspice measures it → reward → … → the best
circuits that *measurably* meet the spec (paper §3.3, judged by a simulator instead of a
surrogate). Reward of a pull: the best FoM among its candidates that meet the spec,
divided by the largest FoM any arm could reach (0 when none meets; an unstable circuit never
meets a spec unless ``stable=any``). Each arm starts from a prior counted as one
pseudo-observation: the chance that a batch holds a pass, from the share of the class's
training circuits that pass (``generation.class_yields``), times the best FoM reachable in
it, scaled the same way. Strategies: ``ucb`` (UCB1 on that mean)
and ``thompson`` (Gaussian posterior per arm); docs/design.md compares them.

Both simulators come from ``plugins.simulators()``: ``"fast"`` screens every pull and the
confirming one (``simulator``, ngspice by default) has the last word. With ``out_dir`` the
designs are written through the exporter registry; every run ends by handing its designs to
the ``candidates_ready`` plugins.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .bandit import STRATEGIES, Bandit, potential_fom  # noqa: F401  (re-exported)
from .circuit import Circuit
from .errors import CktGenError, SpecError
from .generation import decode_options, torch_threads
from .spec import Spec, parse_spec
from .spec_classes import (
    class_yields,
    containment,
    feasible_classes,
    model_classes,
    nearest_feasible,
)


@dataclass
class Design:
    """One verified circuit that meets the spec."""

    circuit: Circuit
    measurement: Any  # netlist.measure.Measurement
    spec_class: tuple[int, int, int]
    sample: int  # how many samples had been spent when it was found

    @property
    def fom(self) -> float:
        return self.measurement.fom

    @property
    def total_gm(self) -> float:
        """Σ|gm| in siemens: the ``power`` objective."""
        return sum(nd.gm for nd in self.circuit.nodes if nd.gm is not None)


@dataclass
class DesignResult:
    """Outcome of ``design``: the best designs, the search history and the arms."""

    spec: Spec
    designs: list[Design]
    history: list[tuple[int, float | None]]  # (samples so far, best FoM so far)
    arms: list[tuple[int, int, int]]
    pulls: list[int]
    samples: int
    feasible: int  # candidates that met the spec
    seconds: float
    strategy: str
    info: dict[str, Any] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)  # written with ``out_dir``, ranked

    @property
    def best(self) -> Design | None:
        return self.designs[0] if self.designs else None

    def to_dict(self) -> dict[str, Any]:
        """The JSON envelope (``report.envelope``, docs/simulation.md "Output envelope"):
        ``spec``, ``engine`` (the simulator that confirmed the designs), one ``results`` item
        per design, best first, with ``target_class`` (the arm's class it was generated for;
        the measured class is ``measurement.spec_class``), ``sample`` (samples spent when it
        was found) and ``total_gm_s`` (Σ|gm|, siemens); then the search: ``screened_by``,
        ``strategy``, ``objective``, ``samples``, ``feasible``, ``refined``,
        ``temperature`` (the decoder's), ``seconds``,
        ``arms``, ``pulls`` and ``history`` ([samples, best FoM or None] per pull)."""
        from .report import envelope, result_entry

        written: dict[str, Path] = {}
        for path in self.files:  # the --format file of each design (its deck shares the stem)
            written.setdefault(path.stem, path)
        info = self.info or {}
        results = [
            result_entry(
                d.measurement,
                d.circuit,
                written.get(f"design_{k}"),
                target_class=list(d.spec_class),
                sample=d.sample,
                total_gm_s=d.total_gm,
            )
            for k, d in enumerate(self.designs)
        ]
        return envelope(
            self.spec,
            info.get("engine"),
            results,
            screened_by=info.get("screened_by"),
            strategy=self.strategy,
            objective=info.get("objective", "fom"),
            samples=self.samples,
            feasible=self.feasible,
            refined=info.get("refined", 0),
            temperature=info.get("temperature", 1.0),
            seconds=round(self.seconds, 3),
            arms=len(self.arms),
            pulls={",".join(map(str, a)): p for a, p in zip(self.arms, self.pulls) if p},
            history=[list(h) for h in self.history],
        )


def design(
    spec: Spec | str,
    *,
    out_dir: str | Path | None = None,
    fmt: str = "json",
    force: bool = False,
    plot: bool = False,
    on_result: Callable[[DesignResult], None] | None = None,
    **search_options: Any,
) -> DesignResult:
    """Search for the best circuits that ngspice confirms meet ``spec``, write them, and
    hand them to the ``candidates_ready`` plugins.

    Args:
        search_options: the keyword arguments of ``search`` (budget, batch, top, model,
            strategy, seed, seconds, workers, on_step, objective, refine, simulator,
            temperature).
        out_dir: write design ``k`` into this folder as ``design_{k}`` + the ``fmt``
            suffix and as the SPICE deck ``design_{k}.cir`` (``fmt`` ``"spice"``: the deck
            alone), all files or none (``result.files``). Checked before the search; an
            existing file needs ``force``.
        fmt: the ``plugins.exporters()`` name of the design files beside the deck.
        plot: with ``out_dir``, also ``best_bode.png`` (the best design, re-simulated by
            ``simulator``) and ``convergence.png`` (best FoM against samples).
        on_result: called with the result once its files are written, before the
            ``candidates_ready`` plugins receive the designs (the CLI prints it there).

    Raises:
        SpecError: when no training class can meet the spec (names the nearest feasible one).
        CktGenError: an unknown ``fmt`` or ``simulator`` (lists the known ones), ``plot``
            without ``out_dir``, or an ``out_dir`` that cannot be written.
        PluginError: a ``candidates_ready`` plugin, an exporter or a simulator failed.
    """
    from .fileio import check_output_dir
    from .plugins import fire_candidates_ready, get_simulator

    if plot and out_dir is None:
        raise CktGenError("plot needs out_dir: the plots are written beside the designs")
    writers = _writers(fmt) if out_dir is not None else []
    top = search_options.get("top", 5)
    if out_dir is not None:
        check_output_dir(out_dir, _names(writers, top, plot), force)
    result = search(spec, **search_options)
    if out_dir is not None:
        sim = get_simulator(search_options.get("simulator", "ngspice"))
        result.files = _write(result, Path(out_dir), writers, plot, sim, force)
    if on_result is not None:
        on_result(result)
    ds = result.designs
    fire_candidates_ready(
        result.spec, [d.circuit for d in ds], [d.measurement for d in ds], out_dir
    )
    return result


def search(
    spec: Spec | str,
    budget: int = 256,
    batch: int = 16,
    top: int = 5,
    model: Any = None,
    strategy: str = "ucb",
    seed: int = 0,
    seconds: float | None = None,
    workers: int | None = None,
    on_step: Callable[[int, float | None, int], None] | None = None,
    objective: str = "fom",
    refine: int = 16,
    simulator: str = "ngspice",
    temperature: float | None = None,
) -> DesignResult:
    """Search the model's classes for the best circuits that ``simulator`` confirms meet
    ``spec``: ``design`` without files or plugins (the auto-design protocol runs this).

    Each pull generates ``batch`` circuits of the bandit's class and the exact engine
    (``"fast"``, netlist/fastac.py: ngspice's numbers to 1e-7) screens them. After the
    search the ``refine`` best screened circuits (passes by objective, then the closest
    misses) are sized into the spec in one batch (``sizing.size``, same topology). Designs
    rank by ``objective`` (``fom``: highest benchmark FoM; ``power``: least Σ|gm|;
    ``margin``: nearest the box centre); at the end ``simulator`` re-measures the best
    ones, and only those it confirms are reported.

    Args:
        budget: samples (generated circuits) to spend; ``seconds`` optionally caps wall time.
            Sized variants do not count as samples.
        batch: circuits generated and screened per pull.
        top: how many distinct best designs to keep.
        on_step: called after each pull with (samples, best FoM or None, feasible count).
        refine: circuits sized after the search (0: none).
        simulator: the ``plugins.simulators()`` name that confirms the designs.
        temperature: the decoder's sampling temperature (None: the model's default,
            ``generation.decode_temperature``).

    Raises:
        SpecError: when no training class can meet the spec (names the nearest feasible one).
        CktGenError: an unknown ``simulator`` (lists the known ones).
    """
    import torch

    from .plugins import get_simulator
    from .sizing import OBJECTIVES, size
    from .training.checkpoint import load_model

    t0 = time.perf_counter()
    spec = parse_spec(spec) if isinstance(spec, str) else spec
    if budget < 1 or batch < 1:
        raise CktGenError(f"budget and batch must be >= 1, found {budget} and {batch}")
    if objective not in OBJECTIVES:
        raise CktGenError(f"unknown objective {objective!r}; choose from {', '.join(OBJECTIVES)}")
    screen, confirm = get_simulator("fast"), get_simulator(simulator)
    warm = _warm_ngspice() if simulator == "ngspice" else None
    if model is None or isinstance(model, str | Path):
        model = load_model(model)
    decoding = decode_options(model, temperature)
    keys = model_classes(model)
    yields = class_yields(spec, model)
    arms = feasible_classes(spec, keys, yields)
    if not arms:
        raise SpecError(
            f"no training class can meet {spec}; nearest feasible spec: "
            f"{nearest_feasible(spec, keys)}"
        )
    pot = [potential_fom(spec, a) for a in arms]
    scale = max(max(pot), 1e-9)
    if yields is not None:
        # expected reward of one pull: P(≥ 1 pass in the batch) × the FoM the arm allows
        chance = [1.0 - (1.0 - yields.get(a, 0.0)) ** batch for a in arms]
    else:
        chance = [math.sqrt(containment(spec, a)) for a in arms]
    priors = [q * max(p, 0.0) / scale for q, p in zip(chance, pot)]
    if objective != "fom":
        priors = chance
    bandit = Bandit(priors, strategy, rng=random.Random(seed))
    gen = torch.Generator().manual_seed(seed)
    found: dict[tuple, Design] = {}
    history: list[tuple[int, float | None]] = []
    samples = feasible = sized = 0
    pool: list[tuple] = []  # every screened circuit: (circuit, measurement, arm, sample)
    while samples < budget and not (seconds and time.perf_counter() - t0 > seconds):
        arm = bandit.select()
        k = min(batch, budget - samples)
        with torch_threads(1):
            decoded = model.generate(torch.tensor([arms[arm]] * k), gen, **decoding)
        circuits = [d.to_circuit() for d in decoded]
        samples += k
        results = [r.measurement for r in screen.verify(circuits, spec=spec)]
        pool.extend((c, m, arms[arm], samples) for c, m in zip(circuits, results))
        reward = 0.0
        for c, m in zip(circuits, results):
            if m.valid and m.meets_spec:
                feasible += 1
                d = Design(c, m, arms[arm], samples)
                reward = max(reward, _reward(d, objective, scale, spec))
                key = (c.nodes, c.edges)
                if key not in found or _rank(d, objective, spec) < _rank(
                    found[key], objective, spec
                ):  # noqa: E501
                    found[key] = d
        bandit.update(arm, reward)
        best = max((d.fom for d in found.values()), default=None)
        history.append((samples, best))
        if on_step is not None:
            on_step(samples, best, feasible)
    if refine:  # one batch: sizing costs a fixed ~0.3 s per call, whatever its size

        def order(item):
            c, m, arm_, n = item
            if m.valid and m.meets_spec:
                return (0.0, _rank(Design(c, m, arm_, n), objective, spec))
            return (1.0, _shortfall(spec, m))

        picked = sorted(pool, key=order)[:refine]
        for (_, _, arm_, n), r in zip(
            picked, size([p[0] for p in picked], spec, objective, seed=seed, search=False)
        ):
            if r.circuit is not None and r.met:
                sized += 1
                d = Design(r.circuit, r.after, arm_, n)
                key = (r.circuit.nodes, r.circuit.edges)
                if key not in found or _rank(d, objective, spec) < _rank(
                    found[key], objective, spec
                ):
                    found[key] = d
    ranked = sorted(found.values(), key=lambda d: _rank(d, objective, spec))
    designs = _confirmed(ranked, spec, top, confirm, workers)
    if warm is not None:
        warm.join()
    return DesignResult(
        spec,
        designs,
        history,
        arms,
        bandit.pulls,
        samples,
        feasible,
        time.perf_counter() - t0,
        strategy,
        {
            "objective": objective,
            "refined": sized,
            "screened_by": screen.name,
            "engine": confirm.name,
            "temperature": decoding.get("temperature", 1.0),
        },
    )


def _writers(fmt: str) -> list:
    """The exporters of one design: ``fmt``, then the SPICE deck unless ``fmt`` is it."""
    from .plugins import get_exporter

    main, deck = get_exporter(fmt), get_exporter("spice")
    return [main] if main.name == deck.name else [main, deck]


def _names(writers: list, count: int, plot: bool) -> list[str]:
    names = [f"design_{k}{w.suffix}" for k in range(count) for w in writers]
    return names + (["best_bode.png", "convergence.png"] if plot else [])


def _write(result: DesignResult, out_dir: Path, writers: list, plot: bool, sim, force) -> list:
    """The designs through ``writers`` (and the plots), all files or none."""
    from .fileio import write_folder

    files: dict[str, str | bytes] = {}
    for k, d in enumerate(result.designs):
        for w in writers:
            files[f"design_{k}{w.suffix}"] = w.write(d.circuit)
    if plot and result.best is not None:
        from .plotting import bode_png, convergence_png

        (r,) = sim.verify([result.best.circuit], spec=result.spec, keep_sweep=True)
        files["best_bode.png"] = bode_png(r.freq_hz, r.h, r.measurement, "best design")
        files["convergence.png"] = convergence_png(result.history)
    return write_folder(out_dir, files, force=force)


def _warm_ngspice():
    """Start the ngspice workers in the background while the search runs."""
    import threading

    from .netlist.ngspice import ngspice_version

    def start() -> None:
        try:
            ngspice_version()
        except Exception:  # noqa: BLE001 - the confirmation step reports a real failure
            pass

    t = threading.Thread(target=start, daemon=True)
    t.start()
    return t


def _shortfall(spec: Spec, m) -> float:
    from .sizing import Target

    return Target.for_spec(spec).shortfall(m)


def _rank(d: Design, objective: str, spec: Spec) -> float:
    """Lower is better: −FoM, Σ|gm| or the distance to the box centre (``sizing``'s)."""
    if objective == "fom":
        return -d.fom
    if objective == "power":
        return d.total_gm
    from .sizing import Target, margin_cost

    return margin_cost(Target.for_spec(spec), d.measurement)


def _reward(d: Design, objective: str, scale: float, spec: Spec) -> float:
    if objective == "fom":
        return max(d.fom, 0.0) / scale
    if objective == "power":  # 1 at 10 µS total, 0 at 10 mS
        return min(max(-math.log10(max(d.total_gm, 1e-12) / 1e-2) / 3, 0.0), 1.0)
    return 1.0 / (1.0 + _rank(d, objective, spec))


def _confirmed(ranked: list[Design], spec: Spec, top: int, sim, workers) -> list[Design]:
    """The first ``top`` of ``ranked`` that ``sim`` confirms meet ``spec`` (its numbers)."""
    out: list[Design] = []
    i = 0
    while len(out) < top and i < len(ranked):
        chunk = ranked[i : i + 2 * (top - len(out))]
        i += len(chunk)
        checked = sim.verify([d.circuit for d in chunk], spec=spec, workers=workers)
        for d, r in zip(chunk, checked):
            if r.measurement.valid and r.measurement.meets_spec and len(out) < top:
                out.append(Design(d.circuit, r.measurement, d.spec_class, d.sample))
    return out
