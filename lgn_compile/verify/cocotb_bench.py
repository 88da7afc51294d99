"""cocotb testbench for a module emitted by lgn-compile's Verilog backend.

Run by `lgn_compile.verify.simulate.simulate()` (not by pytest). It reads the input bit
vectors from the .npy file named by $LGN_SIM_VECTORS, drives `x` with each one, lets the
combinational logic settle, reads `scores` and `class_idx`, and writes what it saw to the
JSON file named by $LGN_SIM_RESULTS. Comparing with the reference happens in Python, outside.
"""

import json
import os

import cocotb
import numpy as np
from cocotb.triggers import Timer


def as_int(bits):
    """Input bits [num_inputs] (0/1) -> the integer driven on x (bit i of x = bits[i])."""
    return int.from_bytes(np.packbits(bits, bitorder="little").tobytes(), "little")


@cocotb.test()
async def drive_vectors(dut):
    """Apply every input vector and record the outputs."""
    vectors = np.load(os.environ["LGN_SIM_VECTORS"])
    observed = {"scores": [], "class_idx": []}
    for bits in vectors:
        dut.x.value = as_int(bits)
        await Timer(1, unit="ns")
        # int() works for 1-bit and wider ports alike and raises on X or Z bits
        observed["scores"].append(format(int(dut.scores.value), "x"))
        observed["class_idx"].append(int(dut.class_idx.value))
    with open(os.environ["LGN_SIM_RESULTS"], "w") as f:
        json.dump(observed, f)
