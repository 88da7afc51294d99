"""Place and route on ECP5 (yosys synth_ecp5 + nextpnr-ecp5): the digits demo model.

Slow (minutes: synthesis and routing of a 4,000-gate model, twice), so under `-m slow`
(`make test-all`). The figures themselves are benchmarks/fpga.py's; here the claims are
structural: the design routes, the wrapper's registers are not counted as the design's,
pipelining raises Fmax and costs the flip-flops the design object says.
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
    name = digits_graph.graph["name"]
    reports = {}
    for pipeline in (0, 2):
        files, design = build_verilog(digits_graph, pipeline, "sync")
        reports[pipeline] = report = pnr_report(files[f"{name}.v"], design.ports, name)
        assert report["lut4"] > 0 and report["fmax_mhz"] > 0
        assert report["latency_cycles"] == design.latency
        assert report["latency_ns"] == pytest.approx(max(design.latency, 1) * 1000
                                                     / report["fmax_mhz"], rel=0.01)
        # yosys may merge duplicate registers, never add any: at most the design's own
        assert 0 <= report["ff"] <= design.register_bits
    assert reports[0]["ff"] == 0  # combinational: only the wrapper's registers
    assert reports[2]["ff"] > 0.5 * build_verilog(digits_graph, 2)[1].register_bits
    assert reports[2]["fmax_mhz"] > 2 * reports[0]["fmax_mhz"]


def test_wrapper_registers_every_port():
    from lgn_compile.verify.simulate import Ports

    text = pnr_wrapper(Ports(5, 3, 2, 2, 4, "sync"), "net")
    assert "reg [4:0] x_q;" in text and ".rst(1'b0)" in text and ".valid_in(valid_q)" in text
    assert "output reg [7:0] y" in text  # 3 scores of 2 bits and a 2-bit index
    assert ".clk(" not in pnr_wrapper(Ports(5, 3, 2, 2, 0, "none"), "net")
