"""Every command has help and appears in the README tour; every doc citation resolves."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import click
from conftest import ROOT

from cktgen_eda.cli import cli


def test_every_command_has_help_and_is_in_readme():
    readme = (ROOT / "README.md").read_text()
    for name, command in cli.commands.items():
        assert command.help, f"{name} is missing its help"
        assert f"cktgen-eda {name}" in readme or f"**`{name}" in readme, name
    assert "make demo" in readme and "make test" in readme


# --------------------------------------------------------------------- doc citations
# A citation is a markdown file followed by section numbers ("docs/benchmark.md §4.4",
# "spec.md §2", "docs/benchmark.md §4.3–4.5", "§5.3-§5.4", "§2.1/§2.2", "§3.1, §3.3") or
# a bare path into docs/ ("docs/spec.md"). Paper sections ("paper §3.2", a lone "§3.3")
# name no file and are not checked.
_SECTION = r"\d+(?:\.\d+)*"
_MORE = r"(?:\s*[-–—/]\s*§?\s*|\s*,\s*§\s*|\s+and\s+§\s*)"
_CITATION = re.compile(
    rf"(?<![\w./-])(?P<path>(?:[\w-]+/)*\w[\w.-]*\.md)\b[`'\"*]*"
    rf"(?P<sections>\s*§\s*{_SECTION}(?:{_MORE}{_SECTION})*)?"
)
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_SKIP_DIRS = {"build", "dist", "__pycache__"}  # and hidden folders (.venv, .git, caches)


def _doc_file(path: str) -> Path | None:
    """The repository file a cited path names: as written from the root, or a bare name
    in docs/ or the root."""
    candidates = [ROOT / path] if "/" in path else [ROOT / "docs" / path, ROOT / path]
    return next((p for p in candidates if p.is_file()), None)


def _headings(doc: Path) -> list[str]:
    """Markdown heading texts of ``doc`` (outside fenced code blocks)."""
    text = _FENCE.sub("", doc.read_text(encoding="utf-8"))
    return re.findall(r"^#{1,6}[ \t]+(.+)$", text, re.MULTILINE)


def _has_section(doc: Path, number: str) -> bool:
    """A heading starts with ``number`` ("## 4. …", "### 4.4 …"), not merely its prefix."""
    pattern = re.compile(rf"{re.escape(number)}\.?(?:\s|$)")
    return any(pattern.match(h) for h in _headings(doc))


def citation_problems(text: str, where: str) -> list[str]:
    """Every citation in ``text`` that does not resolve, as ``where: citation: why``."""
    problems = []
    for m in _CITATION.finditer(text):
        path, sections = m["path"], m["sections"]
        if not sections and not path.startswith("docs/"):
            continue
        line = text.count("\n", 0, m.start()) + 1
        cited = " ".join(m[0].split())
        doc = _doc_file(path)
        if doc is None:
            problems.append(f"{where}:{line}: {cited}: no file {path}")
            continue
        for number in re.findall(_SECTION, sections or ""):
            if not _has_section(doc, number):
                problems.append(f"{where}:{line}: {cited}: {path} has no section {number}")
    return problems


def _tracked_files() -> list[Path]:
    """Tracked and untracked-but-not-ignored .py/.md/.toml files outside tests/data (a walk
    without git)."""
    suffixes = {".py", ".md", ".toml"}
    try:
        out = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        files = [ROOT / line for line in out.splitlines()]
    except (OSError, subprocess.CalledProcessError):
        files = [
            p
            for p in ROOT.rglob("*")
            if not any(
                d in _SKIP_DIRS or d.startswith(".") or d.endswith(".egg-info")
                for d in p.relative_to(ROOT).parts[:-1]
            )
        ]
    data = ROOT / "tests" / "data"
    return sorted(
        p for p in files if p.suffix in suffixes and p.is_file() and data not in p.parents
    )


def _help_texts() -> list[tuple[str, str]]:
    """``--help`` text of the group and every command, subcommands included."""
    out = []

    def walk(command: click.Command, name: str, parent: click.Context | None) -> None:
        settings = dict(command.context_settings, terminal_width=200, max_content_width=200)
        # the command's own settings (-h): click caches each command's help option
        ctx = click.Context(command, info_name=name, parent=parent, **settings)
        out.append((name, command.get_help(ctx)))
        if isinstance(command, click.Group):
            for sub in command.list_commands(ctx):
                walk(command.get_command(ctx, sub), f"{name} {sub}", ctx)

    walk(cli, "cktgen-eda", None)
    return out


def test_citation_checker_catches_bad_citations():
    docs = ROOT / "docs"
    missing = "docs/" + "no-such-note.md"  # split so the repository scan does not see it
    bad = [
        f"see {missing} for details",
        "(docs/benchmark.md " + "§9.9)",
        "docs/benchmark.md " + "§4.4–4.9",
        "docs/benchmark.md " + "§5.3-§5.8",
        "docs/benchmark.md " + "§2.1/§2.8",
        "docs/benchmark.md " + "§3.1, §3.9",
        "somewhere-else" + ".md §2",
    ]
    for text in bad:
        assert len(citation_problems(text, "t")) == 1, text
    good = [
        "(docs/benchmark.md §4.4–4.5)",
        "docs/benchmark.md §5.3-§5.4 and paper §3.3",
        "`docs/benchmark.md` §2.1/§2.2",
        "docs/benchmark.md §3.1, §3.3",
        "docs/benchmark.md §4.",
        "benchmark.md §1.1",
        "docs/spec.md",
        "paper §3.2, Table 1",
    ]
    for text in good:
        assert citation_problems(text, "t") == [], text
    # "§4" needs a "## 4." heading, not just "### 4.4"
    assert _has_section(docs / "benchmark.md", "4") and _has_section(docs / "benchmark.md", "4.4")
    assert not _has_section(docs / "benchmark.md", "4.4.1")


def test_every_doc_citation_resolves():
    problems = []
    for path in _tracked_files():
        where = path.relative_to(ROOT).as_posix()
        problems += citation_problems(path.read_text(encoding="utf-8"), where)
    for name, text in _help_texts():
        problems += citation_problems(text, f"{name} --help")
    assert not problems, "unresolvable citations:\n" + "\n".join(problems)
