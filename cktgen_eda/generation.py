"""Generation: spec → model's joint classes → z_s → decoded circuits (→ ngspice → ranked).

spec → **classes → model → circuits** → netlist → simulator → report. A text spec maps to
every joint class of the model's training set whose physical region intersects the
constraint box (docs/spec.md); classes whose region lies wholly inside the box come first,
since any circuit that lands in them meets the spec. Candidates are spread round-robin over
those classes. Decodes that are not valid circuits are kept and reported with the reason.
With ``verify`` every valid candidate is simulated with ngspice and the list is ranked:
meets-spec first, then by FoM.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .circuit import Circuit
from .errors import CktGenError, SpecError
from .spec import QUANTITIES, Interval, Spec, class_region, parse_spec


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

    def to_dict(self) -> dict[str, Any]:
        m = self.measurement
        return {
            "index": self.index,
            "spec_class": list(self.spec_class),
            "valid": self.valid,
            "error": self.error,
            "circuit": self.circuit.to_dict() if self.circuit is not None else None,
            "measurement": m.to_dict() if m is not None else None,
            "before_refine": self.before.to_dict() if self.before is not None else None,
        }


@dataclass
class GenerationResult:
    """Everything ``generate`` produced, in ranked order when verified."""

    spec: Spec | None
    classes: list[tuple[int, int, int]]
    candidates: list[Candidate]
    model: str
    seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def verified(self) -> bool:
        return any(c.measurement is not None for c in self.candidates)

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec.to_text() if self.spec else None,
            "model": self.model,
            "classes": [list(c) for c in self.classes],
            "seconds": round(self.seconds, 3),
            "valid": sum(c.valid for c in self.candidates),
            "meets_spec": sum(bool(c.meets) for c in self.candidates) if self.verified else None,
            "refine": self.info.get("refine"),
            "candidates": [c.to_dict() for c in self.candidates],
        }


def _overlap(a: Interval, b: Interval) -> float:
    """Share of the finite interval ``b`` that lies inside ``a`` (0…1)."""
    lo = b.lo if a.lo is None else max(a.lo, b.lo)
    hi = b.hi if a.hi is None else min(a.hi, b.hi)
    return max(0.0, hi - lo) / (b.hi - b.lo)


def containment(spec: Spec, cls: tuple[int, int, int]) -> float:
    """How much of the class region lies inside the spec (product over quantities; the
    larger over the spec's ``benchmark_boxes``, one per amplifier polarity)."""
    region = class_region(cls)
    return max(
        math.prod(_overlap(getattr(box, q), region[q]) for q in QUANTITIES)
        for box in spec.benchmark_boxes()
    )


def feasible_classes(
    spec: Spec, keys: list[tuple[int, int, int]], yields: dict | None = None
) -> list[tuple[int, int, int]]:
    """Training classes whose region meets the spec: highest ``class_yields`` first when
    given, else most-contained first."""
    hits = [k for k in keys if spec.intersects_class(k)]
    if yields:
        return sorted(hits, key=lambda k: (-yields.get(k, 0.0), -containment(spec, k), k))
    return sorted(hits, key=lambda k: (-containment(spec, k), k))


def class_yields(spec: Spec, model: Any, prior_weight: float = 2.0) -> dict | None:
    """Per joint class, the share of the model's training circuits that pass ``spec``.

    A pass is judged as the product judges it (``Measurement.check``: stable both ways,
    gain above 0 dB, ``pm`` on the loop margin; or the raw convention for ``stable=any``),
    from the labels of the model's shipped training benchmark. Small classes are shrunk
    towards the overall share: (passes + w·base) / (n + w), w = ``prior_weight``. This is
    what the training data says about where working amplifiers lie; classes mostly made of
    oscillators rank last. None when the benchmark is not shipped or has no stability
    labels (then classes are ranked by containment alone).
    """
    import numpy as np

    found = _training_labels(model)
    if found is None:
        return None
    bench, rows = found
    columns = ("valid", "stable", "cl_stable", "gain_db", "ugf_hz", "pm_deg", "pm_loop_deg")
    a = {k: bench[k][rows] for k in (*columns, "gain_cls", "bw_cls", "pm_cls")}
    ok = a["valid"].copy()
    pm = a["pm_loop_deg"] if spec.require_stable else a["pm_deg"]
    if spec.require_stable:
        ok &= a["stable"] & a["cl_stable"] & (a["gain_db"] > 0)
    for iv, x in ((spec.gain_db, a["gain_db"]), (spec.ugf_hz, a["ugf_hz"]), (spec.pm_deg, pm)):
        ok &= _within(iv, x)
    base = float(ok.mean()) if ok.size else 0.0
    keys = [tuple(k) for k in np.stack([a["gain_cls"], a["bw_cls"], a["pm_cls"]], 1).tolist()]
    counts: dict[tuple, list[int]] = {}
    for key, hit, valid in zip(keys, ok.tolist(), a["valid"].tolist()):
        if valid:
            c = counts.setdefault(key, [0, 0])
            c[0] += hit
            c[1] += 1
    return {k: (h + prior_weight * base) / (n + prior_weight) for k, (h, n) in counts.items()}


def _training_labels(model: Any):
    """``(benchmark, training rows)`` of the model's shipped training benchmark, when its
    stability columns hold measured verdicts; None otherwise (not shipped, or labels from a
    file without them, where every row reads unstable)."""
    from .data.store import shipped_benchmarks, stability_measured

    name = ((getattr(model, "info", None) or {}).get("dataset") or {}).get("name")
    if name not in shipped_benchmarks():
        return None
    bench = _benchmark(name)
    if not stability_measured(bench.manifest):
        return None
    return bench, bench.split_rows("train")


def _within(iv: Interval, x):
    """``Interval.contains`` on an array (NaN is outside)."""
    import numpy as np

    ok = np.isfinite(x)
    if iv.lo is not None:
        ok &= (x > iv.lo) if iv.lo_open else (x >= iv.lo)
    if iv.hi is not None:
        ok &= (x < iv.hi) if iv.hi_open else (x <= iv.hi)
    return ok


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


@functools.lru_cache(maxsize=4)
def _benchmark(name: str):
    from .data.store import load_benchmark

    return load_benchmark(name)


def nearest_feasible(spec: Spec, keys: list[tuple[int, int, int]]) -> Spec:
    """The smallest relaxation of ``spec`` that some training class meets.

    Each violated bound moves to the far edge of a class region, so every circuit of that
    class meets the relaxed spec; the class is the one that needs the least relaxation,
    measured in class widths (100 dB, 1 GHz, 90°).
    """
    width = {"gain_db": 100.0, "ugf_hz": 1e9, "pm_deg": 90.0}

    def relax(cls):
        region, cost, out = class_region(cls), 0.0, {}
        for q in QUANTITIES:
            iv, r = getattr(spec, q), region[q]
            lo, hi = iv.lo, iv.hi
            if lo is not None and lo >= r.hi:
                cost += (lo - r.hi) / width[q]
                lo = r.lo
            if hi is not None and hi <= r.lo:
                cost += (r.lo - hi) / width[q]
                hi = r.hi
            out[q] = Interval(lo, hi, iv.lo_open, iv.hi_open)
        return cost, Spec(**out, require_stable=spec.require_stable)

    return min((relax(k) for k in keys), key=lambda t: t[0])[1]


def expected_containment(probs, spec: Spec) -> list[float]:
    """Per circuit: Π over quantities of Σ_class p(class)·(share of the class bin inside the
    spec), with p from the guidance heads — the model's estimate that it meets the spec
    (the larger over the spec's ``benchmark_boxes``)."""
    import torch

    best = torch.zeros(len(probs[0]))
    for box in spec.benchmark_boxes():
        score = torch.ones(len(probs[0]))
        for q, p in zip(QUANTITIES, probs):
            cls = [0, 0, 0]
            overlap = []
            for k in range(p.shape[1]):
                cls[QUANTITIES.index(q)] = k
                overlap.append(_overlap(getattr(box, q), class_region(tuple(cls))[q]))
            score *= p @ torch.tensor(overlap, dtype=p.dtype)
        best = torch.maximum(best, score)
    return best.tolist()


def expected_yield(probs, yields: dict) -> list[float]:
    """Per circuit: Σ_class p(class)·yield(class), p the product of the guidance heads'
    marginals and the yields those of ``class_yields`` — the model's estimate, with what
    its training data says about each class, that the circuit passes the spec (stability
    included, which expected containment in the box cannot see)."""
    import torch

    keys = [k for k in yields if all(k[j] < probs[j].shape[1] for j in range(3))]
    if not keys:
        return [0.0] * len(probs[0])
    g, b, p = (torch.tensor([k[j] for k in keys]) for j in range(3))
    y = torch.tensor([yields[k] for k in keys], dtype=probs[0].dtype)
    joint = probs[0][:, g] * probs[1][:, b] * probs[2][:, p]  # (N, classes)
    return (joint @ y).tolist()


def model_classes(model) -> list[tuple[int, int, int]]:
    from .data.dataset import split_key

    return [split_key(k) for k in model.scheme.train_keys]


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
) -> GenerationResult:
    """Generate ``n`` candidate circuits for a spec (text or ``Spec``) or one joint class.

    Args:
        spec: target; every training class whose region meets it is used.
        n: number of candidates (decoded circuits, valid or not).
        model: a loaded ``CktGen``, a shipped model name or a checkpoint path (default
            ``ocb101``).
        seed: seeds the latent samples and the decoding.
        verify: simulate every valid candidate with ngspice and rank the list.
        spec_class: address one joint class ``(gain, bw, pm)`` directly instead of a spec.
        rerank: decode K times as many circuits and keep the best n by the model's own
            classifier-guidance heads: the most likely to pass the spec (spec mode: the
            heads' class probabilities weighted by ``class_yields``, or by containment in
            the box without them) or to be in the requested class (``spec_class``).
        refine: size every decoded topology toward the spec (or the requested class, as
            a working amplifier where the training data has one in it) with ``sizing.size``
            and ``objective``; ``info["refine"]`` counts the targets met before and after
            (exact engine). Verification (ngspice) judges the sized circuits.

    Raises:
        SpecError: when no training class can meet the spec (names the nearest feasible
            spec) or ``spec_class`` is not a training class.
    """
    import torch

    from .training.checkpoint import load_model

    t0 = time.perf_counter()
    if model is None or isinstance(model, str | Path):
        name = str(model or "ocb101")
        model = load_model(model, with_encoder=rerank > 1)
    else:
        name = "custom"
    if isinstance(spec, str):
        spec = parse_spec(spec)
    if n < 1:
        raise CktGenError(f"n must be >= 1, found {n}")
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
            decoded = model.generate(torch.tensor(wanted), g, rerank=rerank)
    else:
        # Spec mode: rerank keeps the n of n·K decodes whose expected containment in the
        # spec, under the model's guidance heads, is highest.
        # With refine, REFINE_POOL× as many topologies are sized and the n best kept.
        pool = n * (REFINE_POOL if refine else 1)
        wanted = [classes[i % len(classes)] for i in range(pool * rerank)]
        with torch_threads(_decode_threads(len(wanted))):
            decoded = model.generate(torch.tensor(wanted), g)
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
    info: dict[str, Any] = {}
    if refine:
        info["refine"] = _refine(candidates, spec, spec_class, model, objective, seed)
        if len(candidates) > n:  # keep the n that sizing served best, in decode order
            keep = sorted(candidates, key=_refined_rank)[:n]
            candidates = sorted(keep, key=lambda c: c.index)
            for i, c in enumerate(candidates):
                c.index = i
            info["refine"]["kept"] = n
    if verify:
        _verify(candidates, spec, workers, progress)
    return GenerationResult(spec, classes, candidates, name, time.perf_counter() - t0, info)


REFINE_POOL = 2  # generate --refine sizes this many topologies per candidate it returns


def working_classes(model: Any) -> set[tuple[int, int, int]] | None:
    """Joint classes holding at least one working amplifier (stable both ways, gain above
    0 dB) among the model's shipped training labels; None when unknown."""
    import numpy as np

    found = _training_labels(model)
    if found is None:
        return None
    bench, rows = found
    ok = bench["valid"][rows] & bench["stable"][rows] & bench["cl_stable"][rows]
    ok &= bench["gain_db"][rows] > 0
    cls = np.stack([bench[k][rows] for k in ("gain_cls", "bw_cls", "pm_cls")], 1)[ok]
    return {tuple(k) for k in cls.tolist()}


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


def _verify(candidates: list[Candidate], spec: Spec | None, workers, progress) -> None:
    from .netlist.ngspice import verify as run_verify

    valid = [c for c in candidates if c.valid]
    results = run_verify([c.circuit for c in valid], spec=spec, workers=workers, progress=progress)
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
