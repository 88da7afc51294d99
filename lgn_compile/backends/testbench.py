"""The cocotb testbench emitted beside the Verilog (`--testbench`): a bench, vectors, runners.

Kept apart from the Verilog renderer: it needs the reference evaluator and the simulation
helpers, the renderer needs neither.
"""

from __future__ import annotations

import importlib.resources
import json

import networkx as nx

from lgn_compile import __version__, evaluate
from lgn_compile.backends import render
from lgn_compile.backends.verilog import index_width, score_width
from lgn_compile.random_net import random_input_bits
from lgn_compile.verify.simulate import Ports, stimulus

TESTBENCH_RUNNER = "run_tb.py"
TESTBENCH_SEED, TESTBENCH_VECTORS = 0, 256
# valid_in of the pipelined testbench: a back-to-back burst, then gaps of 1 to 3 cycles
TESTBENCH_VALID = [1] * 32 + [0, 1, 1, 0, 0, 1, 0, 0, 0, 1]


def testbench_files(g: nx.DiGraph, latency: int, reset: str) -> dict[str, str]:
    """A self-contained cocotb testbench for users' CI: the bench, vectors + expected, runners.

    The bench is lgn-compile's own (`verify/cocotb_bench.py`, standalone by design); the
    expected outputs come from the IR reference evaluator on seeded random vectors.
    """
    name = g.graph["name"]
    num_classes = g.graph["num_classes"]
    ports = Ports(g.graph["num_inputs"], num_classes, score_width(g.graph["group_size"]),
                  index_width(num_classes), latency, reset)
    bits = random_input_bits(TESTBENCH_SEED, TESTBENCH_VECTORS, ports.num_inputs)
    expected = evaluate.scores(g, bits)
    stim = stimulus(bits, ports, valid=TESTBENCH_VALID if latency else None,
                    expected=(expected, expected.argmax(axis=1)))
    bench = importlib.resources.files("lgn_compile.verify").joinpath("cocotb_bench.py")
    context = {"name": name, "version": __version__, "runner": TESTBENCH_RUNNER,
               "num_vectors": TESTBENCH_VECTORS, "latency": latency}
    return {f"tb_{name}.py": bench.read_text(),
            f"tb_{name}.json": json.dumps(stim, indent=1) + "\n",
            TESTBENCH_RUNNER: render("tb_run.py.j2", **context),
            "Makefile": render("tb_Makefile.j2", **context)}


