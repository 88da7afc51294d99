"""Place and route on ECP5 (yosys synth_ecp5 + nextpnr-ecp5): the digits demo model.

Slow (minutes: synthesis and routing of a 4,000-gate model), so under `-m slow`
(`make test-all`). The figures themselves are benchmarks/fpga.py's; here the claims are
structural: the design routes, the wrapper's registers are not counted as the design's,
pipelining costs the flip-flops the design object says and lifts Fmax.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from lgn_compile.backends.verilog import build_verilog
from lgn_compile.model_file import load_model
from lgn_compile.passes import PRESETS, optimize_model
from lgn_compile.synth import pnr_report, pnr_wrapper

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def digits_graph(tmp_path_factory):
    path = tmp_path_factory.mktemp("digits") / "model.pt"
    subprocess.run([sys.executable, "-m", "lgn_train", "--dataset", "digits", "--seed", "0",
                    "-q", "-o", str(path)], check=True, timeout=900)
    model = load_model(path)
    return optimize_model(model, PRESETS[2])[0]


def test_digits_places_and_routes(digits_graph):
    """--pipeline 2 (the combinational build routes too, at ~30 MHz, but takes 5x longer)."""
    name = digits_graph.graph["name"]
    files, design = build_verilog(digits_graph, 2, "sync")
    report = pnr_report(files[f"{name}.v"], design.ports, name)
    assert report["lut4"] > 0 and report["latency_cycles"] == design.latency > 0
    assert report["latency_ns"] == pytest.approx(design.latency * 1000 / report["fmax_mhz"],
                                                 rel=0.01)
    # the wrapper's registers are not counted; yosys may merge duplicates, never add any
    assert 0.5 * design.register_bits < report["ff"] <= design.register_bits
    assert report["fmax_mhz"] > 60  # the combinational core: ~30 MHz
    assert report["critical_path"]["hops"] > 0


def test_wrapper_registers_every_port():
    from lgn_compile.verify.simulate import Ports

    text = pnr_wrapper(Ports(5, 3, 2, 2, 4, "sync"), "net")
    assert "reg [4:0] x_q;" in text and ".rst(1'b0)" in text and ".valid_in(valid_q)" in text
    assert "output reg [7:0] y" in text  # 3 scores of 2 bits and a 2-bit index
    assert ".clk(" not in pnr_wrapper(Ports(5, 3, 2, 2, 0, "none"), "net")
