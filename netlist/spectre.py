"""Tokenisers for OCB-style subcircuit netlists: Spectre syntax and SPICE syntax.

netlist text → **Netlist** (subcircuits, instances, AC source) → ``recognize`` → Circuit.
Spectre: ``subckt``/``ends``, ``NAME (nets) master key=value``, ``//`` comments, ``\\``
continuations, case-sensitive scale factors (``M`` = mega). SPICE: ``.subckt``/``.ends``,
``Xname nets master``, ``+`` continuations, ``M`` = milli, ``Meg`` = mega.
"""

from __future__ import annotations

import re

from ..errors import NetlistError
from .recognize import Instance, Netlist, Part, Subckt
from .units import parse_spectre_number, parse_spice_number

_SPECTRE_DEVICE = {"resistor": ("R", "r"), "capacitor": ("C", "c"), "vccs": ("G", "gm")}
_SPECTRE_IGNORED = {
    "simulator",
    "global",
    "parameters",
    "include",
    "ahdl_include",
    "save",
    "options",
    "ac",
    "dc",
    "tran",
    "noise",
    "info",
    "statistics",
    "library",
    "section",
    "endsection",
    "endlibrary",
}
_SPECTRE_STMT = re.compile(r"^(\S+)\s*\(([^()]*)\)\s*(\S+)\s*(.*)$")


def looks_like_spectre(text: str) -> bool:
    """True for Spectre syntax (``subckt`` without a dot, ``//`` comments, ``lang=spectre``)."""
    return bool(re.search(r"^\s*(subckt\s|//|simulator\s+lang\s*=\s*spectre)", text, re.M))


def _spectre_lines(text: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("//", 1)[0].rstrip()
        if line.lstrip().startswith("*"):
            line = ""
        if pending is not None:
            number, line = pending[0], pending[1] + " " + line.strip()
            pending = None
        if line.endswith("\\"):
            pending = (number, line[:-1])
            continue
        if line.strip():
            out.append((number, line.strip()))
    if pending is not None:
        raise NetlistError(f"line {pending[0]}: continuation '\\' at end of file")
    return out


def _params(text: str, where: str) -> dict[str, str]:
    params = {}
    for token in text.split():
        key, eq, value = token.partition("=")
        if not eq or not key or not value:
            raise NetlistError(f"{where}: expected key=value, found {token!r}")
        params[key.lower()] = value
    return params


def parse_spectre_netlist(text: str, source: str = "<netlist>") -> Netlist:
    """Tokenise a Spectre netlist of subcircuits, instances and one ``vsource``."""
    netlist, current = Netlist(), None
    for number, line in _spectre_lines(text):
        where = f"{source}: line {number}"
        words = line.split()
        head = words[0]
        if head == "subckt":
            if current is not None or len(words) < 3:
                raise NetlistError(f"{where}: bad or nested subckt statement")
            current = Subckt(words[1], tuple(w.lower() for w in words[2:]), number)
            continue
        if head == "ends":
            if current is None:
                raise NetlistError(f"{where}: 'ends' without 'subckt'")
            netlist.subckts[current.name] = current
            current = None
            continue
        m = _SPECTRE_STMT.match(line)
        if m is None:
            if head in _SPECTRE_IGNORED or (len(words) > 1 and words[1] in _SPECTRE_IGNORED):
                continue
            raise NetlistError(f"{where}: cannot read statement {line!r}")
        name, nets_text, master, rest = m.groups()
        nets = tuple(n.lower() for n in nets_text.split())
        if master in _SPECTRE_DEVICE:
            kind, key = _SPECTRE_DEVICE[master]
            params = _params(rest, where)
            if key not in params:
                raise NetlistError(f"{where}: {master} {name} has no {key}= value")
            try:
                value = parse_spectre_number(params[key])
            except NetlistError as exc:
                raise NetlistError(f"{where}: {exc}") from None
            if current is None:
                raise NetlistError(f"{where}: {master} {name} outside a subckt (not OCB-style)")
            current.parts.append(Part(kind, nets, value, number))
        elif master == "vsource":
            params = _params(rest, where)
            if len(nets) != 2:
                raise NetlistError(f"{where}: vsource needs 2 nets")
            if "mag" in params and parse_spectre_number(params["mag"]) != 0:
                netlist.sources.append((nets[0], nets[1], number))
        elif master in _SPECTRE_IGNORED:
            continue
        else:
            if current is not None:
                raise NetlistError(f"{where}: nested instance {name} in subckt {current.name}")
            netlist.instances.append(Instance(name, master, nets, number))
    if current is not None:
        raise NetlistError(f"{source}: subckt {current.name} (line {current.line}) has no 'ends'")
    return netlist


def parse_spice_netlist(text: str, source: str = "<netlist>") -> Netlist:
    """Tokenise a SPICE netlist of ``.subckt`` blocks, ``X`` instances and one AC source."""
    from .spice import logical_lines

    netlist, current = Netlist(), None
    lines = logical_lines(text)
    for k, (number, line) in enumerate(lines):
        where = f"{source}: line {number}"
        if k == 0 and not line.startswith("."):
            continue  # SPICE title line
        if line.startswith("*"):
            continue
        words = line.split()
        head = words[0].lower()
        if head == ".subckt":
            if current is not None or len(words) < 3:
                raise NetlistError(f"{where}: bad or nested .subckt")
            current = Subckt(words[1].lower(), tuple(w.lower() for w in words[2:]), number)
        elif head == ".ends":
            if current is None:
                raise NetlistError(f"{where}: .ends without .subckt")
            netlist.subckts[current.name] = current
            current = None
        elif head.startswith("."):
            continue
        elif head[0] in "rcg":
            n = 4 if head[0] == "g" else 2
            if len(words) < n + 2:
                raise NetlistError(f"{where}: {words[0]} needs {n} nets and a value")
            if current is None:
                raise NetlistError(f"{where}: {words[0]} outside a .subckt (not OCB-style)")
            try:
                value = parse_spice_number(words[n + 1])
            except NetlistError as exc:
                raise NetlistError(f"{where}: {exc}") from None
            nets = tuple(w.lower() for w in words[1 : n + 1])
            current.parts.append(Part(head[0].upper(), nets, value, number))
        elif head[0] == "x":
            if current is not None:
                raise NetlistError(f"{where}: nested instance {words[0]}")
            if len(words) < 3:
                raise NetlistError(f"{where}: {words[0]} needs nets and a subcircuit name")
            netlist.instances.append(
                Instance(words[0], words[-1].lower(), tuple(w.lower() for w in words[1:-1]), number)
            )
        elif head[0] == "v":
            upper = [w.upper() for w in words]
            if len(words) < 3:
                raise NetlistError(f"{where}: {words[0]} needs 2 nets")
            if "AC" in upper:
                netlist.sources.append((words[1].lower(), words[2].lower(), number))
        else:
            raise NetlistError(f"{where}: element {words[0]} is not allowed in an OCB netlist")
    if current is not None:
        raise NetlistError(f"{source}: .subckt {current.name} has no .ends")
    return netlist
