"""Every command has help and appears in the README tour."""

from __future__ import annotations

from conftest import ROOT

from cktgen_eda.cli import cli


def test_every_command_has_help_and_is_in_readme():
    readme = (ROOT / "README.md").read_text()
    for name, command in cli.commands.items():
        assert command.help, f"{name} is missing its help"
        assert f"cktgen-eda {name}" in readme or f"**`{name}" in readme, name
    assert "make demo" in readme and "make test" in readme
