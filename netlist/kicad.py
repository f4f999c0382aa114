"""Circuit ⇄ KiCad 7+: the schematic, the XML intermediate netlist, and their shared conventions.

circuit → testbench → **kicad** → KiCad (schematic editor, its ngspice, BOM/netlist plugins).
``write_kicad_sch`` draws every testbench element as a symbol (``Device:R``/``Device:C``,
``Simulation_SPICE:GSOURCE`` for a VCCS, ``Simulation_SPICE:VDC`` with AC 1 for the source,
``power:GND`` and a ``PWR_FLAG``), wired in signal flow (``kicad_place``), so KiCad 7/8/9
opens and simulates it as is and its ERC passes.
``write_kicad_netlist`` writes the XML netlist KiCad hands to generator plugins (``%I``), and
``read_kicad_netlist`` reads one back. Files we write carry the DAG in title-block comments
(``cktgen-eda dag 1: …``, like the ``*@cktgen`` lines of SPICE decks) while device values
live in the symbols, so a design whose values were edited in KiCad reads back with the edits;
netlists of schematics drawn by hand are recognised from their devices (``kicad_flat``).

KiCad conventions relied on (KiCad 7.0 file format 20230121; KiCad 8/9 read it too):

- Field values use SI notation (``M`` = mega, ``m`` = milli) and KiCad converts them for
  ngspice; a resistor or capacitor needs no ``Sim.*`` field (the model is inferred).
- A VCCS is a raw SPICE element: ``Sim.Device`` = ``SPICE``, ``Sim.Params`` =
  ``type="G" model="<signed gm>"`` (``model`` goes to ngspice as the element's value, so it
  is written in notation SI and SPICE read alike: ``-1.69m``, never ``M``/``Meg``),
  ``Sim.Pins`` = ``1=1 2=2 3=3 4=4`` (N+, N−, C+, C−; model pins of raw SPICE elements are
  indices), as the ``Simulation_SPICE:GSOURCE`` library symbol does; the element name is the
  reference when it starts with ``G``.
- The source is ``Sim.Device`` = ``V``, ``Sim.Type`` = ``DC``, ``Sim.Params`` = ``dc=0 ac=1``.
- Local labels on the root sheet become nets ``/in``, ``/out``, … in netlists; ``power:GND``
  makes the net ``GND``, which KiCad's simulator maps to node 0. A text item ``.ac dec 100 1
  100G`` is the analysis command KiCad's simulator picks up.
- The default drawing sheet shows title-block comments 1–4 only, comment 1 lowest, in
  1.5 mm text across 107 mm; KiCad's netlists carry all nine comments, in number order.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from ..circuit import Circuit
from ..errors import NetlistError
from .testbench import GND, IN_NET, SOURCE, Testbench, build_testbench
from .units import SI_EXPONENTS, SI_PREFIXES, format_engineering, format_spice_number

# Namespace of every uuid we write: uuid5(NAMESPACE, circuit digest) names the root sheet,
# uuid5(root, item key) each item, so the same circuit always gives the same file.
NAMESPACE = uuid.UUID("9d3c5e52-7a0b-5b8e-9f43-6b1c2d0e4a71")
DAG_TAG = "cktgen-eda dag 1:"
SPEC_TAG = "cktgen-eda spec:"
META_TAG = "cktgen-eda meta:"
GND_LABEL = "GND"  # net name of power:GND; KiCad's simulator maps it to node 0
GND_NAMES = frozenset({"0", "gnd", "gnda", "agnd", "gndref"})
TITLE = "cktgen-eda OCB op-amp testbench"
DEFAULT_PROJECT = "cktgen"


@dataclass(frozen=True)
class Symbol:
    """A KiCad library symbol: library, name, description and pins ``(number, name, type)``."""

    lib: str
    part: str
    description: str
    pins: tuple[tuple[str, str, str], ...]

    @property
    def lib_id(self) -> str:
        return f"{self.lib}:{self.part}"


_TWO = (("1", "~", "passive"), ("2", "~", "passive"))
SYMBOLS = {
    "R": Symbol("Device", "R", "Resistor", _TWO),
    "C": Symbol("Device", "C", "Unpolarized capacitor", _TWO),
    "G": Symbol(
        "Simulation_SPICE",
        "GSOURCE",
        "Voltage-controlled current source symbol for simulation only",
        (
            ("1", "N+", "passive"),
            ("2", "N-", "passive"),
            ("3", "C+", "input"),
            ("4", "C-", "input"),
        ),
    ),
    "V": Symbol("Simulation_SPICE", "VDC", "Voltage source, DC", _TWO),
}


@dataclass(frozen=True)
class Component:
    """One placed symbol: reference, kind (R, C, G, V), Value, extra fields, net per pin."""

    ref: str
    kind: str
    value: str
    fields: tuple[tuple[str, str], ...]
    nets: tuple[str, ...]

    @property
    def symbol(self) -> Symbol:
        return SYMBOLS[self.kind]


def components(circuit: Circuit) -> tuple[Testbench, list[Component]]:
    """The AC source and every testbench element as KiCad components, in testbench order.

    Reference designators are the testbench element names (``R2``, ``G3``, ``RL3``, ``V0``).

    Raises:
        DAGError, NetlistError: when the circuit is invalid or not an OCB-style amplifier.
    """
    tb = build_testbench(circuit)
    source_fields = (
        ("Sim.Device", "V"),
        ("Sim.Type", "DC"),
        ("Sim.Pins", "1=+ 2=-"),
        ("Sim.Params", "dc=0 ac=1"),
    )
    comps = [Component(SOURCE, "V", "AC 1", source_fields, (IN_NET, GND))]
    for el in tb.elements:
        kind = el.name[0]
        if kind == "G":
            model = format_spice_number(el.value)
            if model.endswith("Meg"):  # KiCad re-reads the model in SI notation: keep it plain
                model = repr(float(el.value))
            fields = (
                ("Sim.Device", "SPICE"),
                ("Sim.Params", f'type="G" model="{model}"'),
                ("Sim.Pins", "1=1 2=2 3=3 4=4"),
            )
            comps.append(Component(el.name, kind, model, fields, el.nets))
        else:
            comps.append(Component(el.name, kind, format_kicad_number(el.value), (), el.nets))
    return tb, comps


def net_name(net: str) -> str:
    """KiCad net name of a testbench net: root-sheet label ``/in`` or ``GND`` for node 0."""
    return GND_LABEL if net == GND else f"/{net}"


def net_key(name: str) -> str:
    """Testbench-style key of a KiCad net name: sheet path dropped, lower case, ground → 0."""
    key = name.strip()
    if key.startswith("/"):
        key = key.rsplit("/", 1)[1]
    key = key.lower()
    return GND if key in GND_NAMES else key


def sheet_uuid(circuit: Circuit) -> uuid.UUID:
    """uuid5 of the root sheet, from a digest of the circuit (the namespace of its items)."""
    return uuid.uuid5(NAMESPACE, json.dumps(circuit.to_dict(), sort_keys=True))


def item_uuid(root: uuid.UUID, key: str) -> str:
    """Deterministic id of one schematic item, e.g. ``item_uuid(root, "sym/R2")``.

    Equal to ``str(uuid.uuid5(root, key))``, computed without building UUID objects.
    """
    h = bytearray(hashlib.sha1(root.bytes + key.encode()).digest()[:16])
    h[6] = (h[6] & 0x0F) | 0x50  # version 5
    h[8] = (h[8] & 0x3F) | 0x80  # RFC 4122 variant
    x = h.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


# ------------------------------------------------------------------ DAG annotation
# KiCad's default title block shows comments 1-4 (comment 1 lowest) in 1.5 mm text across
# 107 mm; a longer annotation line is split into comments that end in a backslash, which
# the reader joins again. Nine comments exist; the ninth takes whatever is left.
COMMENT_MM = 100.0
COMMENT_FONT_MM = 1.5
MAX_COMMENTS = 9
_TAGS = (DAG_TAG, SPEC_TAG, META_TAG)


def annotation(circuit: Circuit) -> list[str]:
    """Title-block comments 1, 2, … carrying the DAG (and spec/meta as JSON, when present).

    Lines too long for the title block are split, each piece but the last ending in a
    backslash. KiCad draws comment 1 lowest, so the pieces are numbered from the last one
    up (the sheet reads top to bottom): the DAG is comment 1 (and 2), meta the highest.
    """
    nodes = " ".join(f"{nd.type}:{nd.pos}" for nd in circuit.nodes)
    edges = " ".join(f"{a}-{b}" for a, b in circuit.edges)
    lines = [f"{DAG_TAG} nodes {nodes}; edges {edges}"]
    if circuit.spec is not None:
        lines.insert(0, f"{SPEC_TAG} {json.dumps(dict(circuit.spec), sort_keys=True)}")
    if circuit.meta is not None:
        lines.insert(0, f"{META_TAG} {json.dumps(dict(circuit.meta), sort_keys=True)}")
    pieces = [piece for line in lines for piece in _split_comment(line)]
    extra = len(pieces) - MAX_COMMENTS
    if extra > 0:  # only comments 1-4 are drawn: the top one (meta) may stay long
        head = "".join(p[:-1] for p in pieces[:extra]) + pieces[extra]
        pieces = [head, *pieces[extra + 1 :]]
    return pieces[::-1]


def _split_comment(line: str) -> list[str]:
    """``line`` in pieces that fit ``COMMENT_MM``, each but the last ending in a backslash;
    a piece breaks after a space where one is near the end."""
    from .kicad_symbols import GRID_MM, text_width

    room = COMMENT_MM / GRID_MM - text_width("\\", COMMENT_FONT_MM)
    out = []
    while text_width(line, COMMENT_FONT_MM) > room:
        n, used = 0, 0.0
        while used + text_width(line[n], COMMENT_FONT_MM) <= room:
            used += text_width(line[n], COMMENT_FONT_MM)
            n += 1
        space = line.rfind(" ", 0, n)
        if space > n // 2:
            n = space + 1
        out.append(line[:n] + "\\")
        line = line[n:]
    return [*out, line]


def join_comments(comments: list[str]) -> list[str]:
    """Title-block comments (comment 1 first) in reading order, top to bottom, with our
    continued lines joined (others left alone)."""
    out: list[str] = []
    current: str | None = None
    for text in reversed(comments):
        if current is None and not text.lstrip().startswith(_TAGS):
            out.append(text)
            continue
        current = text if current is None else current + text
        if current.rstrip().endswith("\\"):
            current = current.rstrip()[:-1]
        else:
            out.append(current)
            current = None
    if current is not None:
        out.append(current)
    return out


_DAG = re.compile(r"nodes((?: \d{1,2}:\d)+); edges((?: \d{1,3}-\d{1,3})*)")


def parse_annotation(comments: list[str], source: str) -> dict | None:
    """The circuit dict (no device values) of our title-block comments, or None if absent.

    ``comments`` are in number order (comment 1 first); continued lines are joined.

    Raises:
        NetlistError: a ``cktgen-eda`` comment that does not parse.
    """
    out: dict = {}
    for text in join_comments(comments):
        text = text.strip()
        if text.startswith(DAG_TAG):
            m = _DAG.fullmatch(text[len(DAG_TAG) :].strip())
            if m is None or "nodes" in out:
                raise NetlistError(f"{source}: bad or repeated '{DAG_TAG}' title-block comment")
            pairs = [p.split(":") for p in m.group(1).split()]
            out["nodes"] = [{"type": int(t), "pos": int(p)} for t, p in pairs]
            out["edges"] = [[int(x) for x in e.split("-")] for e in m.group(2).split()]
        for tag, key in ((SPEC_TAG, "spec"), (META_TAG, "meta")):
            if text.startswith(tag):
                try:
                    out[key] = json.loads(text[len(tag) :])
                except (ValueError, RecursionError) as exc:
                    raise NetlistError(f"{source}: bad '{tag}' comment: {exc}") from None
    if "nodes" not in out:
        return None
    return out


# ------------------------------------------------------------------ numbers (SI notation)
# KiCad reads SI letters as written (M is mega), micro also as µ or μ, K as k; R is the
# decimal point of "4R7"
_READ_SI = {**SI_EXPONENTS, "µ": -6, "μ": -6, "K": 3, "R": 0, "r": 0}
_SI = re.compile(
    r"([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:[eE]([+-]?\d{1,4}))?\s*"
    r"(meg|Meg|MEG|[afpnuµμmkKMGTRr])?(\d+)?\s*([A-Za-zΩ]{0,4})"
)


def format_kicad_number(value: float) -> str:
    """Shortest exact KiCad (SI-notation) text for a float: ``1M`` is 1e6, ``382f`` 3.82e-13."""
    return format_engineering(value, SI_PREFIXES)


def parse_kicad_number(text: str) -> float:
    """Parse a KiCad field value in SI notation: ``4.7k``, ``4k7``, ``1M`` (mega), ``1Meg``,
    ``50fF``, ``10kΩ``, ``1e-3``; case matters for ``m``/``M`` as in KiCad.

    Raises:
        NetlistError: when the text is not such a number (or is not finite).
    """
    m = _SI.fullmatch(text.strip()) if len(text) <= 64 else None
    if m is None:
        raise NetlistError(f"not a KiCad value: {text[:64]!r}")
    sign, mantissa, exponent, prefix, infix, unit = m.groups()
    if infix and (prefix is None or "." in mantissa or exponent):
        raise NetlistError(f"not a KiCad value: {text!r}")
    if prefix and prefix in "Rr" and not infix and unit:
        raise NetlistError(f"not a KiCad value: {text!r}")
    scale = 6 if prefix and prefix.lower() == "meg" else _READ_SI.get(prefix or "", 0)
    digits = f"{mantissa}.{infix}" if infix else mantissa
    try:
        value = float(Decimal(f"{sign}{digits}e{int(exponent or 0) + scale}"))
    except (InvalidOperation, OverflowError):
        raise NetlistError(f"number out of range: {text!r}") from None
    if value in (float("inf"), float("-inf")):
        raise NetlistError(f"number out of range: {text!r}")
    return value


# ------------------------------------------------------------------ public API
def write_kicad_sch(circuit: Circuit, project: str = DEFAULT_PROJECT) -> str:
    """KiCad 7+ schematic (``.kicad_sch``) of the circuit's OCB testbench; byte-identical
    for equal circuits.

    Args:
        circuit: a valid OCB-style circuit.
        project: KiCad project name the symbol instances are filed under; use the file's
            stem (``amp`` for ``amp.kicad_sch``).

    Raises:
        DAGError, NetlistError: when the circuit is invalid or not an OCB-style amplifier.
    """
    from .kicad_sch import write_schematic

    return write_schematic(circuit, project)


def write_kicad_netlist(circuit: Circuit, project: str = DEFAULT_PROJECT) -> str:
    """KiCad XML intermediate netlist (``<export version="E">``) of the circuit, as KiCad
    would export it from ``write_kicad_sch``'s schematic; byte-identical for equal circuits.

    Raises:
        DAGError, NetlistError: when the circuit is invalid or not an OCB-style amplifier.
    """
    from .kicad_xml import write_netlist

    return write_netlist(circuit, project)


def parse_kicad_netlist(
    data: str | bytes, source: str = "<netlist>", in_net: str = "in", out_net: str = "out"
) -> Circuit:
    """Read KiCad XML netlist text into a Circuit.

    Netlists we wrote (title-block comment ``cktgen-eda dag 1: …``) read back exactly, with
    the device values found in the components. Any other netlist is recognised from its
    devices: resistors, capacitors, VCCS (``G``) each with its 1 MΩ ∥ 50 fF load, at most
    one voltage source, ground ``GND``/``0``. Its input is the net labelled ``in_net`` (or,
    without one, the net the voltage source drives) and its output the net ``out_net``; net
    names are compared without the sheet path and case (``/IN`` is ``in``).

    Raises:
        NetlistError: naming the component (reference and XML line) and the problem.
    """
    from .kicad_xml import parse_netlist

    return parse_netlist(data, source, in_net, out_net)


def read_kicad_netlist(path_or_text: str | Path | bytes, in_net: str = "in", out_net: str = "out"):
    """Read a KiCad XML netlist from a path, or from its text (a string starting with ``<``).

    Raises:
        NetlistError: the file cannot be read, is too big, or is not an OCB-style netlist.
    """
    from ..fileio import read_bytes

    if isinstance(path_or_text, bytes) or (
        isinstance(path_or_text, str) and path_or_text.lstrip().startswith("<")
    ):
        return parse_kicad_netlist(path_or_text, "<netlist>", in_net, out_net)
    path = Path(path_or_text)
    return parse_kicad_netlist(read_bytes(path, NetlistError), str(path), in_net, out_net)
