"""Layer rule: the CLI, netlist and plugin layers import without torch (fast start-up)."""

from __future__ import annotations

import subprocess
import sys

import pytest

LIGHT = [
    "cktgen_eda",
    "cktgen_eda.cli",
    "cktgen_eda.netlist.spice",
    "cktgen_eda.netlist.deck",
    "cktgen_eda.netlist.ngspice",
    "cktgen_eda.plugins",
    "cktgen_eda.data.generator",
    "cktgen_eda.data.store",
    "cktgen_eda.generation",
]


def test_generation_model_loads_without_torch_geometric(tmp_path):
    """Inference skips the circuit encoder, so `generate` never imports torch-geometric."""
    code = (
        "import sys, torch, random\n"
        "from cktgen_eda.data.dataset import SpecScheme\n"
        "from cktgen_eda.model.generator import CircuitGenerator\n"
        "from cktgen_eda.model.cktgen import CktGen\n"
        "from cktgen_eda.model.registry import make_config\n"
        "from cktgen_eda.training.checkpoint import save_checkpoint, load_model\n"
        "s = SpecScheme(4, 3, 4, (1001,), 1.0, 1.0)\n"
        "m = CktGen(make_config('cktgen', 'tiny'), s, with_encoder=False)\n"
        f"save_checkpoint({str(tmp_path / 'm.pt')!r}, m, {{}})\n"
        f"load_model({str(tmp_path / 'm.pt')!r}).generate(torch.tensor([[1, 1, 0]]))\n"
        "print('torch_geometric' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("module", LIGHT)
def test_module_imports_without_torch_or_pyspice(module):
    code = (
        f"import sys, {module}; "
        "bad = [m for m in ('torch', 'PySpice', 'matplotlib') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_lower_layers_do_not_import_upper_ones():
    code = (
        "import sys, cktgen_eda.circuit, cktgen_eda.spec, cktgen_eda.netlist.spice; "
        "print(','.join(m for m in sys.modules if m.startswith(('cktgen_eda.cli', "
        "'cktgen_eda.plugins'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
