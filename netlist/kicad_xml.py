"""KiCad XML intermediate netlist (``<export version="E">``) ⇄ Circuit.

circuit → testbench → **XML netlist** → KiCad BOM/netlist generators, and back. This is the
file KiCad's schematic editor hands to generator plugins (``%I``) and ``kicad-cli sch export
netlist --format kicadxml`` writes. Reading is hardened: lxml without entity expansion,
network access or DTDs (a DOCTYPE is refused), a size cap, and every problem a one-line
``NetlistError`` naming the component and its XML line. A netlist with our DAG comment is
checked element by element against the annotated circuit (``spice._check_elements`` in
spirit); any other is recognised from its devices (``kicad_flat``).
"""

from __future__ import annotations

import re

from lxml import etree

from ..circuit import Circuit, Node
from ..errors import CktGenError, DAGError, NetlistError
from ..subgraphs import subgraph_type
from .kicad import (
    SYMBOLS,
    TITLE,
    Component,
    annotation,
    components,
    item_uuid,
    net_key,
    net_name,
    parse_annotation,
    parse_kicad_number,
    sheet_uuid,
)
from .kicad_flat import Device, recognise_devices
from .testbench import GND, IN_NET, SOURCE, build_testbench
from .units import parse_spice_number

MAX_BYTES = 16 * 2**20  # a KiCad netlist of an OCB amplifier is a few kB
MAX_ITEMS = 10_000  # components, nets or nodes
_LIBRARY_URI = "${KICAD7_SYMBOL_DIR}/%s.kicad_sym"


# ------------------------------------------------------------------ writing
def _natural(ref: str) -> tuple:
    m = re.fullmatch(r"([A-Za-z#]*)(\d*)", ref)
    return (m.group(1), int(m.group(2) or 0)) if m else (ref, 0)


def write_netlist(circuit: Circuit, project: str) -> str:
    """See ``kicad.write_kicad_netlist``."""
    _, comps = components(circuit)
    root = sheet_uuid(circuit)
    sheet_file = f"{project}.kicad_sch"
    export = etree.Element("export", version="E")
    design = etree.SubElement(export, "design")
    etree.SubElement(design, "source").text = sheet_file
    etree.SubElement(design, "date")
    etree.SubElement(design, "tool").text = "cktgen-eda"
    sheet = etree.SubElement(design, "sheet", number="1", name="/", tstamps="/")
    block = etree.SubElement(sheet, "title_block")
    etree.SubElement(block, "title").text = TITLE
    for tag in ("company", "rev", "date"):
        etree.SubElement(block, tag)
    etree.SubElement(block, "source").text = sheet_file
    for k, text in enumerate(annotation(circuit), 1):
        etree.SubElement(block, "comment", number=str(k), value=text)

    comps = sorted(comps, key=lambda c: _natural(c.ref))
    parts = etree.SubElement(export, "components")
    for comp in comps:
        symbol = comp.symbol
        el = etree.SubElement(parts, "comp", ref=comp.ref)
        etree.SubElement(el, "value").text = comp.value
        if comp.fields:
            fields = etree.SubElement(el, "fields")
            for name, value in comp.fields:
                etree.SubElement(fields, "field", name=name).text = value
        etree.SubElement(
            el, "libsource", lib=symbol.lib, part=symbol.part, description=symbol.description
        )
        etree.SubElement(el, "property", name="Sheetname", value="")
        etree.SubElement(el, "property", name="Sheetfile", value=sheet_file)
        etree.SubElement(el, "sheetpath", names="/", tstamps="/")
        etree.SubElement(el, "tstamps").text = item_uuid(root, f"sym/{comp.ref}")

    used = sorted({c.kind for c in comps}, key=lambda k: SYMBOLS[k].lib_id)
    libparts = etree.SubElement(export, "libparts")
    for kind in used:
        symbol = SYMBOLS[kind]
        lp = etree.SubElement(libparts, "libpart", lib=symbol.lib, part=symbol.part)
        etree.SubElement(lp, "description").text = symbol.description
        etree.SubElement(lp, "docs").text = "~"
        fields = etree.SubElement(lp, "fields")
        etree.SubElement(fields, "field", name="Reference").text = kind
        etree.SubElement(fields, "field", name="Value").text = symbol.part
        pins = etree.SubElement(lp, "pins")
        for num, name, kind_ in symbol.pins:
            etree.SubElement(pins, "pin", num=num, name=name, type=kind_)
    libraries = etree.SubElement(export, "libraries")
    for lib in sorted({SYMBOLS[k].lib for k in used}):
        library = etree.SubElement(libraries, "library", logical=lib)
        etree.SubElement(library, "uri").text = _LIBRARY_URI % lib

    nets: dict[str, list[tuple[Component, tuple[str, str, str]]]] = {}
    for comp in comps:
        for pin, net in zip(comp.symbol.pins, comp.nets):
            nets.setdefault(net_name(net), []).append((comp, pin))
    nets_el = etree.SubElement(export, "nets")
    for code, name in enumerate(sorted(nets), 1):
        net = etree.SubElement(nets_el, "net", code=str(code), name=name)
        for comp, (num, pin_name, pin_type) in sorted(
            nets[name], key=lambda cp: (_natural(cp[0].ref), cp[1][0])
        ):
            attrs = {"ref": comp.ref, "pin": num}
            if pin_name != "~":
                attrs["pinfunction"] = pin_name
            attrs["pintype"] = pin_type
            etree.SubElement(net, "node", **attrs)
    text = etree.tostring(export, pretty_print=True, encoding="unicode")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + text


# ------------------------------------------------------------------ reading
def parse_netlist(data: str | bytes, source: str, in_net: str, out_net: str) -> Circuit:
    """See ``kicad.parse_kicad_netlist``."""
    root = _parse_xml(data, source)
    numbered = []
    for k, c in enumerate(root.iterfind("design/sheet/title_block/comment")):
        number = c.get("number") or ""
        numbered.append((int(number) if number.isdecimal() else k, k, c.get("value") or ""))
    comments = [text for _, _, text in sorted(numbered)]
    annotated = parse_annotation(comments, source)
    devices, sources = _devices(root, source)
    if annotated is not None:
        return _check_own(annotated, devices, sources, source)
    return recognise_devices(devices + sources, in_net, out_net, source)


def _parse_xml(data: str | bytes, source: str):
    if isinstance(data, str):
        data = data.encode("utf-8", errors="replace")
    if not isinstance(data, bytes):
        raise NetlistError(f"{source}: a KiCad netlist must be text or bytes")
    if len(data) > MAX_BYTES:
        raise NetlistError(f"{source}: larger than {MAX_BYTES} bytes; not a KiCad netlist")
    if data.lstrip().startswith(b"(kicad_sch"):
        raise NetlistError(
            f"{source}: a KiCad schematic, not a netlist; export one with "
            "`kicad-cli sch export netlist --format kicadxml -o amp.xml amp.kicad_sch`"
        )
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(data, parser)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise NetlistError(f"{source}: not well-formed XML: {_one_line(exc)}") from None
    if root is None:
        raise NetlistError(f"{source}: empty XML document")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise NetlistError(f"{source}: DOCTYPE/entity declarations are not allowed")
    if root.tag != "export":
        raise NetlistError(f"{source}: root element is <{_tag(root)}>, expected <export>")
    if root.get("version") not in ("D", "E"):
        raise NetlistError(
            f"{source}: unsupported KiCad netlist version {root.get('version')!r} (reads D, E)"
        )
    if sum(1 for _ in root.iter()) > 20 * MAX_ITEMS:
        raise NetlistError(f"{source}: more than {20 * MAX_ITEMS} XML elements")
    return root


def _tag(el) -> str:
    return el.tag if isinstance(el.tag, str) else "?"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _text(el) -> str:
    """Text content of an element, entities and children ignored."""
    return el.text or "" if el is not None else ""


def _fields(comp) -> dict[str, str]:
    out: dict[str, str] = {}
    for f in comp.iterfind("fields/field"):
        out.setdefault(f.get("name") or "", _text(f))
    for p in comp.iterfind("property"):
        out.setdefault(p.get("name") or "", p.get("value") or "")
    return out


_PARAM = re.compile(r'\s*([A-Za-z_][\w.]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s"]+)')


def sim_params(text: str, where: str) -> dict[str, str]:
    """``key=value key="quoted value"`` pairs of a ``Sim.Params`` field (keys lower case)."""
    out, pos = {}, 0
    text = text.rstrip()
    while pos < len(text):
        m = _PARAM.match(text, pos)
        if m is None:
            raise NetlistError(f"{where}: cannot read Sim.Params {text[:80]!r}")
        value = m.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out[m.group(1).lower()] = value
        pos = m.end()
    return out


_PIN_ROLES = {"G": ("n+", "n-", "c+", "c-"), "V": ("+", "-")}


def _device(comp, pins: dict[str, str], source: str) -> Device:
    """Classify one ``<comp>`` as R, C, G (VCCS) or V and read its value and pin order."""
    ref = comp.get("ref") or ""
    where = f"{source}: line {comp.sourceline}: {ref}"
    fields = _fields(comp)
    value_text = _text(comp.find("value")).strip()
    sim = fields.get("Sim.Device", "").strip().upper()
    params = sim_params(fields.get("Sim.Params", ""), where)
    spice_value = False
    if sim == "SPICE":
        kind = params.get("type", "").upper()
        value_text, spice_value = params.get("model", ""), True
    elif sim in ("R", "C"):
        kind = sim
        value_text = params.get(sim.lower(), value_text)
    elif sim in ("G", "V"):
        kind = sim
        if sim == "G":
            value_text = params.get("gain", params.get("gm", value_text))
            spice_value = "gain" not in params and "gm" not in params
    elif sim == "":
        kind = ref[:1].upper()
        spice_value = kind == "G"
    else:
        kind = "?"
    if kind not in ("R", "C", "G", "V"):
        part = comp.find("libsource")
        lib_id = "?" if part is None else f"{part.get('lib')}:{part.get('part')}"
        raise NetlistError(
            f"{where} ({lib_id}, Sim.Device {sim or '-'}) is not a resistor, capacitor, VCCS "
            "or voltage source; an OCB amplifier has no other devices"
        )
    value = None
    if kind != "V":
        try:
            value = (
                parse_spice_number(value_text) if spice_value else parse_kicad_number(value_text)
            )
        except NetlistError as exc:
            raise NetlistError(f"{where}: {exc}") from None
    roles = _PIN_ROLES.get(kind, ("+", "-"))
    order = _pin_order(fields.get("Sim.Pins", ""), roles, pins, where)
    nets = tuple(pins[p] for p in order)
    return Device(ref, kind, nets, value, comp.sourceline or 0)


def _pin_order(text: str, roles: tuple[str, ...], pins: dict[str, str], where: str) -> list[str]:
    """Symbol pin numbers in model order, from ``Sim.Pins`` (``1=N+ 2=N-`` or ``1=1 2=2``)."""
    n = len(roles)
    if len(pins) != n:
        found = ", ".join(sorted(pins)) or "none"
        raise NetlistError(f"{where}: has {len(pins)} connected pins ({found}), expected {n}")
    order: list[str | None] = [None] * n
    for pair in text.split():
        pin, eq, model = pair.partition("=")
        model = model.lower()
        k = int(model) - 1 if model.isdecimal() else (roles.index(model) if model in roles else -1)
        if not eq or not 0 <= k < n or order[k] is not None:
            raise NetlistError(f"{where}: cannot read Sim.Pins {text[:80]!r}")
        order[k] = pin
    if all(p is None for p in order):
        order = sorted(pins, key=lambda p: (len(p), p))
    if None in order or set(order) != set(pins):
        raise NetlistError(f"{where}: Sim.Pins {text[:80]!r} does not name pins {sorted(pins)}")
    return order  # type: ignore[return-value]


def _devices(root, source: str) -> tuple[list[Device], list[Device]]:
    """Devices (R, C, G) and voltage sources, with the net of each pin."""
    pins: dict[str, dict[str, str]] = {}
    n_nodes = 0
    for k, net in enumerate(root.iterfind("nets/net")):
        name = net.get("name") or ""
        key = net_key(name) or f"<net {net.get('code') or k}>"
        for node in net.iterfind("node"):
            n_nodes += 1
            if n_nodes > MAX_ITEMS:
                raise NetlistError(f"{source}: more than {MAX_ITEMS} net nodes")
            ref, pin = node.get("ref") or "", node.get("pin") or ""
            if pin in pins.setdefault(ref, {}):
                raise NetlistError(
                    f"{source}: line {node.sourceline}: pin {pin} of {ref} is on two nets"
                )
            pins[ref][pin] = key
    listed = {}
    for comp in root.iterfind("components/comp"):
        ref = comp.get("ref") or ""
        if ref.startswith("#"):
            continue  # power and flag symbols carry no device
        if not re.fullmatch(r"[A-Za-z][\w.+-]{0,63}", ref) or ref.lower() in listed:
            raise NetlistError(
                f"{source}: line {comp.sourceline}: bad or repeated component reference {ref!r}"
            )
        listed[ref.lower()] = comp
        if len(listed) > MAX_ITEMS:
            raise NetlistError(f"{source}: more than {MAX_ITEMS} components")
    unknown = sorted(r for r in pins if r.lower() not in listed and not r.startswith("#"))
    if unknown:
        raise NetlistError(f"{source}: nets name component {unknown[0]!r}, which is not listed")
    devices, sources = [], []
    for comp in listed.values():
        dev = _device(comp, pins.get(comp.get("ref"), {}), source)
        (sources if dev.kind == "V" else devices).append(dev)
    if not devices:
        raise NetlistError(f"{source}: no resistors, capacitors or VCCS found")
    return devices, sources


def _check_own(annotated: dict, devices: list[Device], sources: list[Device], source: str):
    """Rebuild a circuit we wrote from its DAG comment and component values, and check that
    every component sits where that circuit puts it (the designer may edit values only)."""
    hint = "; delete the 'cktgen-eda dag' title-block comment to have the drawing recognised"
    by_ref = {d.ref.upper(): d for d in devices}
    nodes = []
    for i, nd in enumerate(annotated["nodes"]):
        try:
            kind = subgraph_type(nd["type"])
        except DAGError as exc:
            raise NetlistError(f"{source}: dag comment, node {i}: {exc}") from None
        sizes = {}
        for slot in kind.components:
            ref = f"{'G' if slot == 'gm' else slot.upper()}{i}"
            if ref not in by_ref:
                raise NetlistError(
                    f"{source}: node {i} ({kind.name}) needs component {ref}, not found{hint}"
                )
            value = by_ref[ref].value
            sizes[slot] = abs(value) if slot == "gm" else value
        nodes.append(Node(type=nd["type"], pos=nd["pos"], **sizes).to_dict())
    try:
        data = {"nodes": nodes, "edges": annotated["edges"]}
        data.update({k: annotated[k] for k in ("spec", "meta") if k in annotated})
        circuit = Circuit.from_dict(data)
        tb = build_testbench(circuit)
    except CktGenError as exc:
        raise NetlistError(f"{source}: dag comment: {exc}") from None
    for src in sources:
        if src.ref.upper() != SOURCE or src.nets != (IN_NET, GND):
            raise NetlistError(
                f"{source}: line {src.line}: {src.ref}: the only source is {SOURCE} from "
                f"'{IN_NET}' to ground, found {src.ref} on {' '.join(src.nets)}{hint}"
            )
    wanted = {el.name: el for el in tb.elements}
    for dev in devices:
        where = f"{source}: line {dev.line}: {dev.ref}"
        el = wanted.pop(dev.ref.upper(), None)
        if el is None or el.name[0] != dev.kind:
            raise NetlistError(f"{where} does not belong to the annotated circuit{hint}")
        same = dev.nets == el.nets if dev.kind == "G" else sorted(dev.nets) == sorted(el.nets)
        if not same:
            raise NetlistError(
                f"{where} connects {' '.join(dev.nets)}; the annotated circuit needs "
                f"{' '.join(el.nets)}{hint}"
            )
        if el.role in ("rl", "cl") and dev.value != el.value:
            raise NetlistError(f"{where}: gm load must be {el.value:g}, found {dev.value:g}")
        if el.role == "gm" and dev.value != 0 and (dev.value > 0) != (el.value > 0):
            raise NetlistError(f"{where}: gm has the wrong sign for its subgraph type")
    if wanted:
        raise NetlistError(f"{source}: component {sorted(wanted)[0]} of the circuit is missing")
    return circuit
