"""The example scripts run on the public API."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT


@pytest.mark.ngspice
def test_roundtrip_and_verify_example():
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "roundtrip_and_verify.py")],
                         capture_output=True, text=True, check=True, timeout=120)
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 3 and all("meets spec: True" in ln for ln in lines)
