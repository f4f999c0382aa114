"""Circuit ⇄ ngspice deck text (PyG-style ``write_spice`` / ``parse_spice`` / ``read_spice``).

circuit → testbench → **spice** → ngspice. Decks we write carry the DAG in ``*@cktgen``
comment lines (types, positions, edges; ngspice ignores them) while device values live in
the element lines, so a deck whose values a designer edited reads back with the edits.
``parse_spice`` also reads OCB-style subcircuit netlists in Spectre or SPICE syntax.

``write_spice`` ends the deck with ``CONTROL``, an ngspice ``.control`` block after ``.end``.
The ngspice CLI reads past ``.end`` (it comments the card out, reads on and appends ``.end``
last), so ``ngspice -b deck.cir`` runs the sweep and prints gain, UGF and PM the way
``verify`` measures them; readers that stop at ``.end`` (libngspice, other SPICEs, ``mna``,
``deck``) never see it. Our own runs never execute it: ``verify`` rebuilds the deck from the
circuit (``deck_text``), and the ngspice worker sends the lines up to the first ``.end``
only. ``parse_spice`` skips any ``.control`` block (docs/simulation.md, "Running a deck in
ngspice").
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..circuit import Circuit, Node
from ..errors import CktGenError, DAGError, NetlistError
from ..fileio import read_text
from ..subgraphs import subgraph_type
from .testbench import GND, IN_NET, SOURCE, Testbench, build_testbench
from .units import format_spice_number, parse_spice_number

TAG = "*@cktgen"
AC_CARD = ".ac dec 100 1 100G"  # 1 Hz → 100 GHz, 100 points per decade (docs/benchmark.md §4.3)
_KIND_LETTERS = "RCGEVXL"
# What `ngspice -b deck.cir` runs after the deck (docs/simulation.md, "Running a deck in
# ngspice"). `points` stays 0 when the sweep did not run: exit 1. gain_db: vdb(out) at the
# 1 Hz sample (V(in) = 1 exactly, so H = V(out)). ugf_hz: the first 0 dB crossing in either
# direction, dB linear in frequency (measure.first_unity_crossing; meas cannot see a first
# sample exactly at 0 dB, so that case is taken by hand). pm_deg: H interpolated as a complex
# number where |H| = 1 (measure_opamp's rule), 180° + its angle wrapped into (−180°, 180°]:
# no phase unwrapping is involved. No crossing: meas fails (ngspice says so on stderr) and
# "none" is printed. `quit` only in batch mode: without it ngspice -b exits 1 ("no
# simulations run"), and libngspice crashes on quit (netlist/ngspice.py).
CONTROL = """\
* ngspice -b runs this block (ngspice reads past .end; other tools stop there): it prints
* gain_db, ugf_hz and pm_deg as `cktgen-eda verify` measures them (docs/simulation.md).
.control
let points = 0
run
let points = length(frequency)
if points = 0
  echo cktgen-eda: the AC sweep did not run (see the messages above)
  if $?batchmode
    quit 1
  end
end
set numdgt=7
meas ac gain_db find vdb(out) at=1
let ugf_hz = -1
let h_first = v(out)[0]
if mag(h_first) = 1
  let ugf_hz = real(frequency[0])
  let h_re = real(h_first)
  let h_im = imag(h_first)
else
  meas ac ugf_hz when vdb(out)=0 cross=1
  meas ac h_re find vr(out) when vm(out)=1 cross=1
  meas ac h_im find vi(out) when vm(out)=1 cross=1
end
echo
echo cktgen-eda measurements:
print gain_db
if ugf_hz > 0
  let pm_deg = 180 + 180/pi*ph(h_re + j(h_im))
  if pm_deg > 180
    let pm_deg = pm_deg - 360
  end
  print ugf_hz pm_deg
else
  echo ugf_hz = none
  echo pm_deg = none
end
if $?batchmode
  quit 0
end
.endc
"""


def write_spice(circuit: Circuit) -> str:
    """ngspice deck of the OCB testbench for ``circuit``; byte-identical for equal circuits.

    The deck ends with the ``CONTROL`` block after ``.end``, so ``ngspice -b`` prints the
    measurements (module doc).

    Raises:
        DAGError, NetlistError: when the circuit is invalid or not an OCB-style amplifier.
    """
    return deck_text(build_testbench(circuit)) + CONTROL


def deck_text(tb: Testbench) -> str:
    """The deck of a laid-out testbench up to ``.end``: what the simulator runs
    (``write_spice`` without the layout step and the ``.control`` block)."""
    circuit = tb.circuit
    lines = [
        "* cktgen-eda OCB testbench (H = V(out)/V(in), AC sweep 1 Hz-100 GHz)",
        f"{TAG} format 1",
    ]
    for i, nd in enumerate(circuit.nodes):
        lines.append(f"{TAG} node {i} type {nd.type} pos {nd.pos}")
    lines.append(f"{TAG} edges " + " ".join(f"{a}-{b}" for a, b in circuit.edges))
    if circuit.spec is not None:
        lines.append(f"{TAG} spec {json.dumps(dict(circuit.spec), sort_keys=True)}")
    if circuit.meta is not None:
        lines.append(f"{TAG} meta {json.dumps(dict(circuit.meta), sort_keys=True)}")
    lines.append(f"{SOURCE} {IN_NET} {GND} DC 0 AC 1")
    current = None
    for el in tb.elements:
        if el.node != current:
            current = el.node
            nd = circuit.nodes[el.node]
            pin_in, pin_out = tb.node_nets[el.node]
            lines.append(f"* node {el.node}: {nd.name} at pos {nd.pos} ({pin_in} -> {pin_out})")
        lines.append(f"{spice_name(el)} {' '.join(el.nets)} {format_spice_number(el.value)}")
    lines += [AC_CARD, ".end", ""]
    return "\n".join(lines)


def spice_name(el) -> str:
    """Element name in the deck: a 0 Ω resistor becomes a 0 V source ``VR<i>``, an ideal short.

    ngspice silently turns R = 0 into 1 mΩ, which can leave a measurable error (the original
    Spectre flow shorted the nets; the benchmark's rows with 0 dB gain and PM 180° come from
    such shorts). A zero-volt source is exact and reads back as R = 0.
    """
    return f"V{el.name}" if el.role == "r" and el.value == 0 else el.name


def logical_lines(text: str) -> list[tuple[int, str]]:
    """SPICE source lines with ``+`` continuations joined: ``(first line number, text)``.

    Comment lines (``*``) are kept; inline ``;`` / ``$ `` comments are removed.
    """
    out: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line.startswith("*"):
            line = re.split(r";|\s\$\s|^\$", line, maxsplit=1)[0].strip()
        if not line:
            continue
        if line.startswith("+"):
            if not out:
                raise NetlistError(f"line {number}: continuation '+' with no line before it")
            first, prev = out[-1]
            out[-1] = (first, f"{prev} {line[1:].strip()}")
        else:
            out.append((number, line))
    return out


def parse_spice(text: str, source: str = "<netlist>", out_net: str = "out") -> Circuit:
    """Read a netlist into a Circuit.

    Accepts decks written by ``write_spice`` (lossless) and OCB-style subcircuit netlists
    (one subcircuit instance per subgraph) in Spectre or SPICE syntax, whose amplifier
    output is the net ``out_net``.

    Raises:
        NetlistError: naming the line and the problem.
    """
    if not isinstance(text, str):
        raise NetlistError(f"{source}: netlist must be text")
    if f"{TAG} format" in text:
        return _parse_own_deck(text, source)
    from .recognize import parse_subckt_netlist

    return parse_subckt_netlist(text, source, out_net=out_net)


def from_spice(path_or_text: str | Path, out_net: str = "out") -> Circuit:
    """Read a netlist from a path, or from its text (a string with a line break).

    The Python API's ``from_spice``; like ``from_kicad`` it takes either form.

    Raises:
        NetlistError: the file cannot be read or is not a netlist this reader knows.
    """
    if isinstance(path_or_text, str) and "\n" in path_or_text:
        return parse_spice(path_or_text, "<netlist>", out_net=out_net)
    return read_spice(path_or_text, out_net=out_net)


def read_spice(path: str | Path, out_net: str = "out") -> Circuit:
    """Read a netlist file (see ``parse_spice``)."""
    path = Path(path)
    text = read_text(path, NetlistError)
    return parse_spice(text, str(path), out_net=out_net)


def _parse_own_deck(text: str, source: str) -> Circuit:
    types: dict[int, tuple[int, int, int]] = {}  # node -> (type, pos, line)
    edges: list[tuple[int, int]] | None = None
    spec = meta = None
    elements: dict[str, tuple[int, list[str]]] = {}  # lower-case name -> (line, tokens)
    control = None  # line of an open .control block: its commands are not the circuit
    for number, line in logical_lines(text):
        where = f"{source}: line {number}"
        card = line.split(maxsplit=1)[0].lower()
        if control is not None:
            control = None if card == ".endc" else control
            continue
        if card == ".control":
            control = number
            continue
        if line.startswith(TAG):
            words = line[len(TAG) :].split(maxsplit=1)
            key, rest = (words + [""])[:2] if words else ("", "")
            try:
                if key == "format":
                    if rest.strip() != "1":
                        raise NetlistError(f"{where}: unsupported deck format {rest.strip()!r}")
                elif key == "node":
                    m = re.fullmatch(r"(\d+) type (\d+) pos (\d+)", rest.strip())
                    if not m:
                        raise NetlistError(f"{where}: expected 'node I type T pos P'")
                    i, t, p = map(int, m.groups())
                    if i in types:
                        raise NetlistError(f"{where}: node {i} declared twice")
                    types[i] = (t, p, number)
                elif key == "edges":
                    edges = []
                    for pair in rest.split():
                        m = re.fullmatch(r"(\d+)-(\d+)", pair)
                        if not m:
                            raise NetlistError(f"{where}: bad edge {pair!r} (expected 'A-B')")
                        edges.append((int(m.group(1)), int(m.group(2))))
                elif key in ("spec", "meta"):
                    value = json.loads(rest)
                    if key == "spec":
                        spec = value
                    else:
                        meta = value
                else:
                    raise NetlistError(f"{where}: unknown annotation {key!r}")
            except (ValueError, RecursionError) as exc:
                raise NetlistError(f"{where}: bad {key} annotation: {exc}") from None
            continue
        if line.startswith("*") or line.startswith("."):
            continue
        tokens = line.split()
        name = tokens[0].lower()
        if name in elements:
            raise NetlistError(f"{where}: element {tokens[0]} defined twice")
        elements[name] = (number, tokens)
    if control is not None:
        raise NetlistError(f"{source}: line {control}: .control block without .endc")
    if edges is None:
        raise NetlistError(f"{source}: missing '{TAG} edges' line")
    n = len(types)
    if sorted(types) != list(range(n)):
        raise NetlistError(f"{source}: node annotations must number 0–{n - 1} without gaps")

    nodes = []
    for i in range(n):
        t, p, number = types[i]
        try:
            kind = subgraph_type(t)
        except DAGError as exc:
            raise NetlistError(f"{source}: line {number}: {exc}") from None
        sizes = {}
        for slot in kind.components:
            name = f"{slot[0]}{i}" if slot != "gm" else f"g{i}"
            if slot == "r" and name not in elements and f"v{name}" in elements:
                name = f"v{name}"  # 0 Ω written as a 0 V source
            if name not in elements:
                raise NetlistError(
                    f"{source}: node {i} ({kind.name}) needs element {name.upper()}, not found"
                )
            line_no, tokens = elements[name]
            value = _element_value(tokens, f"{source}: line {line_no}")
            sizes[slot] = abs(value) if slot == "gm" else value
        nodes.append(Node(type=t, pos=p, **sizes))
    try:
        if spec is not None and not isinstance(spec, dict):
            raise DAGError("spec annotation must be a JSON object")
        circuit = Circuit.from_dict(
            {
                "nodes": [nd.to_dict() for nd in nodes],
                "edges": [list(e) for e in edges],
                **({"spec": spec} if spec is not None else {}),
                **({"meta": meta} if meta is not None else {}),
            }
        )
        expected = build_testbench(circuit)
    except CktGenError as exc:
        raise NetlistError(f"{source}: {exc}") from None
    _check_elements(expected, elements, source)
    return circuit


def _element_value(tokens: list[str], where: str) -> float:
    letter = tokens[0][0].upper()
    n_nets = 4 if letter == "G" else 2
    if len(tokens) != n_nets + 2:
        raise NetlistError(f"{where}: {tokens[0]} needs {n_nets} nets and one value")
    try:
        return parse_spice_number(tokens[-1])
    except NetlistError as exc:
        raise NetlistError(f"{where}: {exc}") from None


def _check_elements(expected, elements: dict, source: str) -> None:
    """Every element must sit where the annotated DAG puts it, with the right sign and loads."""
    wanted = {spice_name(el).lower(): el for el in expected.elements}
    for name, (number, tokens) in elements.items():
        where = f"{source}: line {number}"
        if name == SOURCE.lower():
            if [t.lower() for t in tokens[1:3]] != [IN_NET, GND]:
                raise NetlistError(f"{where}: source {tokens[0]} must drive '{IN_NET}'")
            continue
        el = wanted.pop(name, None)
        if el is None:
            raise NetlistError(f"{where}: element {tokens[0]} does not belong to the circuit")
        value = _element_value(tokens, where)
        nets = tuple(t.lower() for t in tokens[1:-1])
        if nets != el.nets:
            raise NetlistError(
                f"{where}: {tokens[0]} connects {' '.join(nets)}; the annotated circuit "
                f"needs {' '.join(el.nets)}"
            )
        if el.role in ("rl", "cl") and value != el.value:
            raise NetlistError(f"{where}: gm load {tokens[0]} must be {el.value:g}")
        if el.role == "gm" and value != 0 and (value > 0) != (el.value > 0):
            raise NetlistError(f"{where}: {tokens[0]} has the wrong sign for its subgraph type")
    if wanted:
        missing = sorted(wanted)[0]
        raise NetlistError(f"{source}: element {missing.upper()} of the circuit is missing")
