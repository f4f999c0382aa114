"""The boundary to KiCad's command-line tool ``kicad-cli`` (KiCad 8 or newer) and pdftoppm.

schematic → **kicad-cli** → SVG/PNG rendering, KiCad's own netlists (XML, SPICE), ERC report.
The only module that runs KiCad. Each call gets a fresh temporary folder and a wall-clock
timeout; a missing tool or a failed run is a one-line ``KiCadError`` naming the command and
KiCad's last message. ``tools/install_kicad.sh`` (``make kicad``) installs both tools on
Debian. Facts relied on (kicad-cli 9.0): ``sch export svg -o DIR`` writes ``DIR/<stem>.svg``;
``sch export pdf``/``netlist`` write the ``-o`` file; ``sch erc --format json`` writes a report
whose ``sheets[].violations[]`` carry ``severity`` and ``type``; a lone ``.kicad_sch`` needs no
project file (ERC then warns ``lib_symbol_issues``: the libraries are not configured).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import CktGenError

TIMEOUT_S = 120.0
PNG_DPI = 130
PREVIEW_SUFFIXES = (".svg", ".png")


class KiCadError(CktGenError):
    """kicad-cli (or pdftoppm) is missing, failed or timed out."""


def kicad_cli() -> str:
    """Path of ``kicad-cli`` (``$KICAD_CLI``, else the one on PATH).

    Raises:
        KiCadError: when there is none.
    """
    found = os.environ.get("KICAD_CLI") or shutil.which("kicad-cli")
    if not found:
        raise KiCadError(
            "kicad-cli not found: install KiCad 8 or newer (`make kicad` runs "
            "tools/install_kicad.sh on Debian) or set KICAD_CLI"
        )
    return found


def _pdftoppm() -> str:
    found = shutil.which("pdftoppm")
    if not found:
        raise KiCadError(
            "pdftoppm not found: a PNG preview needs it (Debian: poppler-utils, installed by "
            "`make kicad`); or write an .svg preview"
        )
    return found


def check_tools(suffix: str) -> None:
    """Fail now when the tools for a preview of this suffix (``.svg``/``.png``) are missing.

    Raises:
        KiCadError: a tool is missing or the suffix is not one we render.
    """
    if suffix.lower() not in PREVIEW_SUFFIXES:
        raise KiCadError(f"a preview is .svg or .png, not {suffix or 'no suffix'!r}")
    kicad_cli()
    if suffix.lower() == ".png":
        _pdftoppm()


def _run(argv: list[str], timeout_s: float) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise KiCadError(f"{_name(argv)} timed out after {timeout_s:g} s") from None
    except OSError as exc:
        raise KiCadError(f"{_name(argv)}: cannot run: {exc.strerror or exc}") from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout or "").strip().splitlines()
        why = lines[-1] if lines else f"exit status {done.returncode}"
        raise KiCadError(f"{_name(argv)} failed: {why}")
    return done


def _name(argv: list[str]) -> str:
    return " ".join([Path(argv[0]).name, *argv[1:4]])


def run_kicad(*args: str, timeout_s: float = TIMEOUT_S) -> subprocess.CompletedProcess:
    """Run ``kicad-cli ARGS`` and return the finished process.

    Raises:
        KiCadError: missing, failed (naming KiCad's last message) or timed out.
    """
    return _run([kicad_cli(), *args], timeout_s)


def export_netlist(schematic: str | Path, fmt: str = "kicadxml") -> str:
    """KiCad's own netlist of a schematic file: ``kicadxml`` (what ``from-kicad`` reads) or
    ``spice`` (what KiCad's simulator runs; ``cktgen-eda verify --out-node /out`` reads it)."""
    with tempfile.TemporaryDirectory(prefix="cktgen-kicad-") as tmp:
        out = Path(tmp) / ("netlist.xml" if fmt == "kicadxml" else "netlist.cir")
        run_kicad("sch", "export", "netlist", "--format", fmt, "-o", str(out), str(schematic))
        return out.read_text(encoding="utf-8")


def erc(schematic: str | Path) -> list[dict]:
    """KiCad's ERC errors of a schematic file: one dict per violation (``type``,
    ``description``, ``items``); empty when the schematic passes."""
    with tempfile.TemporaryDirectory(prefix="cktgen-kicad-") as tmp:
        out = Path(tmp) / "erc.json"
        run_kicad(
            "sch", "erc", "--format", "json", "--severity-error", "-o", str(out), str(schematic)
        )
        report = json.loads(out.read_text(encoding="utf-8"))
    return [v for sheet in report.get("sheets", []) for v in sheet.get("violations", [])]


def render(schematic: str | Path, suffix: str, dpi: int = PNG_DPI) -> bytes:
    """KiCad's rendering of a schematic file, as SVG (``suffix`` ``.svg``) or PNG (``.png``:
    KiCad's PDF rasterised by pdftoppm at ``dpi``).

    Raises:
        KiCadError: a tool is missing or fails.
    """
    check_tools(suffix)
    schematic = Path(schematic)
    with tempfile.TemporaryDirectory(prefix="cktgen-kicad-") as tmp:
        folder = Path(tmp)
        if suffix.lower() == ".svg":
            run_kicad("sch", "export", "svg", "-o", str(folder), str(schematic))
            return (folder / f"{schematic.stem}.svg").read_bytes()
        pdf = folder / "sheet.pdf"
        run_kicad("sch", "export", "pdf", "-o", str(pdf), str(schematic))
        _run(
            [_pdftoppm(), "-png", "-r", str(dpi), "-singlefile", str(pdf), str(folder / "sheet")],
            TIMEOUT_S,
        )
        return (folder / "sheet.png").read_bytes()


def render_text(text: str, project: str, suffix: str, dpi: int = PNG_DPI) -> bytes:
    """``render`` for schematic text (written to a temporary ``<project>.kicad_sch``)."""
    check_tools(suffix)
    with tempfile.TemporaryDirectory(prefix="cktgen-kicad-") as tmp:
        path = Path(tmp) / f"{project}.kicad_sch"
        path.write_text(text, encoding="utf-8")
        return render(path, suffix, dpi)
