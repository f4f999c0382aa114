"""Generation: spec → model's joint classes → z_s → decoded circuits (→ ngspice → ranked).

spec → **classes → model → circuits** → netlist → simulator → report. A text spec maps to
every joint class of the model's training set whose physical region intersects the
constraint box (docs/spec.md); classes whose region lies wholly inside the box come first,
since any circuit that lands in them meets the spec. Candidates are spread round-robin over
those classes. Decodes that are not valid circuits are kept and reported with the reason.
With ``verify`` every valid candidate is simulated (ngspice, or any simulator of
``plugins.simulators()``) and the list is ranked: meets-spec first, then by FoM. With
``out_dir`` the valid candidates are written through the exporter registry; every run ends
by handing its candidates to the ``candidates_ready`` plugins. Which classes serve a spec is
``spec_classes``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .circuit import Circuit
from .errors import CktGenError, SpecError
from .spec import Spec, parse_spec
from .spec_classes import (  # noqa: F401  (re-exported: generation's public API before the split)
    class_yields,
    containment,
    expected_containment,
    expected_yield,
    feasible_classes,
    model_classes,
    nearest_feasible,
    working_classes,
)


@dataclass
class Candidate:
    """One generated circuit (or a failed decode) for a requested class."""

    index: int
    spec_class: tuple[int, int, int]
    circuit: Circuit | None
    error: str | None = None
    measurement: Any = None  # netlist.measure.Measurement after verification
    before: Any = None  # the decoded values' exact measurement, when refined (fast engine)

    @property
    def valid(self) -> bool:
        return self.circuit is not None

    @property
    def meets(self) -> bool | None:
        return None if self.measurement is None else self.measurement.meets_spec

    def to_dict(self, file: str | Path | None = None) -> dict[str, Any]:
        """One ``results`` item of the JSON envelope (``report.result_entry``): ``file``
        (where the candidate was written, else None), ``measurement``, ``circuit``, and
        ``index``, ``target_class`` (the class it was generated for; the measured class is
        ``measurement.spec_class``), ``valid``, ``error``, ``before_refine``."""
        from .report import result_entry

        before = None
        if self.before is not None:
            before = {**self.before.to_dict(), "file": None}  # the decoded values, unsaved
        return result_entry(
            self.measurement,
            self.circuit,
            file,
            index=self.index,
            target_class=list(self.spec_class),
            valid=self.valid,
            error=self.error,
            before_refine=before,
        )


@dataclass
class GenerationResult:
    """Everything ``generate`` produced, in ranked order when verified."""

    spec: Spec | None
    classes: list[tuple[int, int, int]]
    candidates: list[Candidate]
    model: str
    seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)  # written with ``out_dir``, ranked

    @property
    def verified(self) -> bool:
        return any(c.measurement is not None for c in self.candidates)

    def to_dict(self) -> dict[str, Any]:
        """The JSON envelope (``report.envelope``, docs/simulation.md "Output envelope"):
        ``spec``, ``engine`` (the ``verify`` simulator, or None), one ``results`` item per
        candidate in ranked order, and ``model``, ``classes``, ``seconds``, ``valid``,
        ``meets_spec`` (a count, None unverified), ``temperature`` (the decoder's) and
        ``refine``."""
        from .report import envelope

        written = {p.stem: p for p in self.files}
        results = [c.to_dict(written.get(f"candidate_{c.index:03d}")) for c in self.candidates]
        return envelope(
            self.spec,
            self.info.get("engine"),
            results,
            model=self.model,
            classes=[list(c) for c in self.classes],
            seconds=round(self.seconds, 3),
            valid=sum(c.valid for c in self.candidates),
            meets_spec=sum(bool(c.meets) for c in self.candidates) if self.verified else None,
            temperature=self.info.get("temperature", 1.0),
            refine=self.info.get("refine"),
        )


@contextlib.contextmanager
def torch_threads(n: int):
    """Run torch on ``n`` intra-op threads, then restore the count. Decoding a few dozen
    circuits is a chain of small matrix products: a second thread only adds overhead
    (0.44 s vs 1.2 s for 16 batches of 16 on 2 busy cores)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _decode_threads(n: int) -> int:
    """One thread for a small decode batch (see ``torch_threads``), all for a large one."""
    import torch

    return 1 if n <= 256 else torch.get_num_threads()


MAX_TEMPERATURE = 10.0


def decode_temperature(model: Any, temperature: float | None = None) -> float:
    """The decoder's sampling temperature: ``temperature``, else the model's own default
    (``info["decode_temperature"]``, set by measurement for the shipped stable101 model;
    docs/training.md), else 1 (the trained distribution, as in the paper's protocol).

    Raises:
        CktGenError: a temperature outside (0, 10], or one other than 1 for a model whose
            decoder has none (the baselines).
    """
    info = getattr(model, "info", None) or {}
    t = float(temperature if temperature is not None else info.get("decode_temperature", 1.0))
    if not 0 < t <= MAX_TEMPERATURE:
        raise CktGenError(f"decode temperature must be in (0, {MAX_TEMPERATURE:g}], found {t:g}")
    if t != 1.0 and getattr(model, "kind", "cktgen") != "cktgen":
        raise CktGenError(f"a decode temperature needs a CktGen model, not {model.kind!r}")
    return t


def decode_options(model: Any, temperature: float | None = None) -> dict[str, float]:
    """Keyword arguments of ``model.generate`` for ``decode_temperature`` (none at 1)."""
    t = decode_temperature(model, temperature)
    return {} if t == 1.0 else {"temperature": t}


def generate(
    spec: Spec | str | None = None,
    n: int = 16,
    model: Any = None,
    seed: int = 0,
    verify: bool = False,
    spec_class: tuple[int, int, int] | None = None,
    workers: int | None = None,
    progress: bool = False,
    rerank: int = 1,
    refine: bool = False,
    objective: str = "power",
    simulator: str = "ngspice",
    out_dir: str | Path | None = None,
    fmt: str = "json",
    force: bool = False,
    on_result: Callable[[GenerationResult], None] | None = None,
    temperature: float | None = None,
) -> GenerationResult:
    """Generate ``n`` candidate circuits for a spec (text or ``Spec``) or one joint class.

    Args:
        spec: target; every training class whose region meets it is used.
        n: number of candidates (decoded circuits, valid or not).
        model: a loaded ``CktGen``, a shipped model name or a checkpoint path (default
            ``DEFAULT_MODEL``, stable101).
        seed: seeds the latent samples and the decoding.
        verify: simulate every valid candidate with ``simulator`` and rank the list.
        spec_class: address one joint class ``(gain, bw, pm)`` directly instead of a spec.
        rerank: decode K times as many circuits and keep the best n by the model's own
            classifier-guidance heads: the most likely to pass the spec (spec mode: the
            heads' class probabilities weighted by ``class_yields``, or by containment in
            the box without them) or to be in the requested class (``spec_class``).
        refine: size every decoded topology toward the spec (or the requested class, as
            a working amplifier where the training data has one in it) with ``sizing.size``
            and ``objective``; ``info["refine"]`` counts the targets met before and after
            (exact engine). Verification judges the sized circuits.
        simulator: the ``plugins.simulators()`` name that ``verify`` runs.
        out_dir: write every valid candidate into this folder as
            ``candidate_{index:03d}{suffix}``, all files or none (``result.files``). The
            folder is checked before any work; an existing file needs ``force``.
        fmt: the ``plugins.exporters()`` name the files are written in.
        on_result: called with the result once its files are written, before the
            ``candidates_ready`` plugins receive it (the CLI prints it there).
        temperature: the decoder's sampling temperature (``decode_temperature``: None
            takes the model's default); ``info["temperature"]`` records the one used.

    Raises:
        SpecError: when no training class can meet the spec (names the nearest feasible
            spec) or ``spec_class`` is not a training class.
        CktGenError: an unknown ``fmt`` or ``simulator`` (lists the known ones), or an
            ``out_dir`` that cannot be written.
        PluginError: a ``candidates_ready`` plugin, the exporter or the simulator failed.
    """
    import torch

    from .fileio import check_output_dir
    from .plugins import get_exporter, get_simulator
    from .training.checkpoint import DEFAULT_MODEL, load_model

    t0 = time.perf_counter()
    # every name and the folder are checked before the model loads
    exporter = get_exporter(fmt) if out_dir is not None else None
    sim = get_simulator(simulator) if verify else None
    if out_dir is not None:
        names = [f"candidate_{i:03d}{exporter.suffix}" for i in range(n)]
        check_output_dir(out_dir, names, force)
    if model is None or isinstance(model, str | Path):
        name = str(model or DEFAULT_MODEL)
        model = load_model(model, with_encoder=rerank > 1)
    else:
        name = "custom"
    if isinstance(spec, str):
        spec = parse_spec(spec)
    if n < 1:
        raise CktGenError(f"n must be >= 1, found {n}")
    decoding = decode_options(model, temperature)
    keys = model_classes(model)
    yields = None
    if spec_class is not None:
        spec_class = tuple(int(x) for x in spec_class)
        if spec_class not in keys:
            raise SpecError(
                f"class {spec_class} is not one of the model's {len(keys)} training classes"
            )
        classes = [spec_class]
    else:
        spec = spec or Spec()
        yields = class_yields(spec, model)
        classes = feasible_classes(spec, keys, yields)
        if not classes:
            near = nearest_feasible(spec, keys)
            raise SpecError(
                f"no training class of model {name!r} can meet {spec}; "
                f"nearest feasible spec: {near}"
            )
    g = torch.Generator().manual_seed(seed)
    if spec_class is not None:
        wanted = classes * n
        with torch_threads(_decode_threads(len(wanted) * rerank)):
            decoded = model.generate(torch.tensor(wanted), g, rerank=rerank, **decoding)
    else:
        # Spec mode: rerank keeps the n of n·K decodes whose expected containment in the
        # spec, under the model's guidance heads, is highest.
        # With refine, REFINE_POOL× as many topologies are sized and the n best kept.
        pool = n * (REFINE_POOL if refine else 1)
        wanted = [classes[i % len(classes)] for i in range(pool * rerank)]
        with torch_threads(_decode_threads(len(wanted))):
            decoded = model.generate(torch.tensor(wanted), g, **decoding)
        if rerank > 1:
            probs = model.guidance_probs(decoded)
            if yields:
                score = expected_yield(probs, yields)
            else:
                score = expected_containment(probs, spec)
            top = sorted(sorted(range(len(decoded)), key=lambda i: -score[i])[:pool])
            wanted, decoded = [wanted[i] for i in top], [decoded[i] for i in top]
    candidates = []
    for i, (cls, d) in enumerate(zip(wanted, decoded)):
        meta = {"model": name, "seed": seed, "index": i, "spec_class": list(cls)}
        try:
            candidates.append(Candidate(i, cls, d.to_circuit(meta)))
        except CktGenError as exc:
            candidates.append(Candidate(i, cls, None, str(exc)))
    info: dict[str, Any] = {"temperature": decoding.get("temperature", 1.0)}
    if refine:
        info["refine"] = _refine(candidates, spec, spec_class, model, objective, seed)
        if len(candidates) > n:  # keep the n that sizing served best, in decode order
            keep = sorted(candidates, key=_refined_rank)[:n]
            candidates = sorted(keep, key=lambda c: c.index)
            for i, c in enumerate(candidates):
                c.index = i
            info["refine"]["kept"] = n
    if verify:
        _verify(candidates, spec, sim, workers, progress)
        info["engine"] = sim.name
    result = GenerationResult(spec, classes, candidates, name, time.perf_counter() - t0, info)
    if out_dir is not None:
        result.files = _write(candidates, Path(out_dir), exporter, force)
    _hand_over(result, out_dir, on_result)
    return result


def _write(candidates: list[Candidate], out_dir: Path, exporter: Any, force: bool) -> list[Path]:
    """Every valid candidate through ``exporter``, all files or none."""
    from .fileio import write_folder

    files = {
        f"candidate_{c.index:03d}{exporter.suffix}": exporter.write(c.circuit)
        for c in candidates
        if c.valid
    }
    return write_folder(out_dir, files, force=force)


def _hand_over(result: GenerationResult, out_dir, on_result) -> None:
    """``on_result``, then the valid candidates (ranked) to the ``candidates_ready`` hook."""
    from .plugins import fire_candidates_ready

    if on_result is not None:
        on_result(result)
    valid = [c for c in result.candidates if c.valid]
    circuits, measurements = [c.circuit for c in valid], [c.measurement for c in valid]
    fire_candidates_ready(result.spec, circuits, measurements, out_dir)


REFINE_POOL = 2  # generate --refine sizes this many topologies per candidate it returns


def _refined_rank(c: Candidate) -> tuple[int, int]:
    """Sized candidates that meet the target first, then stable ones, then the rest."""
    meta = (c.circuit.meta or {}).get("sized") if c.valid else None
    if meta is None:
        return (3, c.index)
    if meta["met"]:
        return (0, c.index)
    return (1 if c.before is not None and meta.get("works") else 2, c.index)


def _refine(candidates, spec, spec_class, model, objective: str, seed: int) -> dict[str, Any]:
    """Size the valid candidates in place; counts of targets met before and after."""
    from .sizing import Target, size

    t0 = time.perf_counter()
    valid = [c for c in candidates if c.valid]
    if spec_class is not None:
        hosts = working_classes(model)
        targets = [
            Target.for_class(c.spec_class, hosts is None or c.spec_class in hosts) for c in valid
        ]
    else:
        targets = [Target.for_spec(spec)] * len(valid)
    results = size(
        [c.circuit for c in valid], targets, objective=objective, seed=seed, search=False
    )
    met_before = 0
    for c, t, r in zip(valid, targets, results):
        if r.error is not None:
            continue
        met_before += t.met(r.before)
        c.before = r.before
        meta = dict(c.circuit.meta or {})
        meta["sized"] = {"objective": objective, "met": r.met, "works": r.after.works}
        c.circuit = Circuit(r.circuit.nodes, r.circuit.edges, None, meta)
    return {
        "objective": objective,
        "sized": sum(r.error is None for r in results),
        "met_before": met_before,
        "met_after": sum(r.met for r in results),
        "seconds": round(time.perf_counter() - t0, 3),
    }


def _verify(candidates: list[Candidate], spec: Spec | None, sim, workers, progress) -> None:
    """Simulate the valid candidates with ``sim`` (a ``plugins.Simulator``) and rank them."""
    valid = [c for c in candidates if c.valid]
    results = sim.verify([c.circuit for c in valid], spec=spec, workers=workers, progress=progress)
    for c, r in zip(valid, results):
        c.measurement = r.measurement
        if r.measurement.valid:
            m = r.measurement
            c.circuit = Circuit(
                c.circuit.nodes,
                c.circuit.edges,
                {"gain_db": m.gain_db, "ugf_hz": m.ugf_hz, "pm_deg": m.pm_deg},
                c.circuit.meta,
            )

    def rank(c: Candidate):
        # spec passes first, then working (stable) amplifiers, then the rest; FoM within
        m = c.measurement
        if m is None or not m.valid:
            return (2, 2, 0.0, c.index)
        meets = 0 if m.meets_spec or (m.meets_spec is None and m.works) else 1
        return (meets, 0 if m.works else 1, -m.fom, c.index)

    candidates.sort(key=rank)
