"""cocotb testbench for a module emitted by lgn-compile's Verilog backend (combinational or piped).

Standalone on purpose (cocotb and the standard library only): `lgn-compile --testbench`
ships this very file as the users' testbench. It reads the JSON stimulus named by
$LGN_SIM_VECTORS:

    {"num_inputs": N, "latency": L, "reset": "sync" | "async" | "none",
     "input_port": "x" (or "features", the module behind its encoder; optional),
     "inputs": [x of each sample, hex],
     "valid": [valid_in pattern, repeated while samples remain]      (optional, default [1])
     "expected": {"scores": [hex], "class_idx": [int]}}              (optional)

A combinational module (L = 0) gets one sample per nanosecond. A pipelined one gets a
clock, a reset (rst held two cycles, unless reset is "none", then L idle cycles flush the
pipeline), and then one sample on each cycle where the pattern says valid_in; on the
others x carries junk. The bench checks that valid_out rises exactly L cycles after each
valid_in and never otherwise, compares every output with `expected` when given, and
writes what it saw to $LGN_SIM_RESULTS when that is set.
"""

import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, Timer


def _read(dut):
    # int() works for 1-bit and wider ports alike and raises on X or Z bits
    return format(int(dut.scores.value), "x"), int(dut.class_idx.value)


async def _combinational(dut, stimulus, observed):
    port = getattr(dut, stimulus.get("input_port", "x"))
    for x in stimulus["inputs"]:
        port.value = int(x, 16)
        await Timer(1, unit="ns")
        scores, class_idx = _read(dut)
        observed["scores"].append(scores)
        observed["class_idx"].append(class_idx)


async def _pipelined(dut, stimulus, observed):
    latency, pattern = stimulus["latency"], stimulus.get("valid") or [1]
    assert any(pattern), "the valid_in pattern has no 1"
    junk = random.Random(0)
    port = getattr(dut, stimulus.get("input_port", "x"))
    Clock(dut.clk, 10, unit="ns").start()
    dut.valid_in.value = 0
    port.value = 0
    if stimulus["reset"] != "none":
        dut.rst.value = 1
        for _ in range(2):
            await FallingEdge(dut.clk)
        dut.rst.value = 0
    else:  # no reset: idle cycles push the unknown start-up state out of the pipeline
        for _ in range(latency):
            await FallingEdge(dut.clk)
    pending = list(stimulus["inputs"])
    cycle = 0
    while pending or cycle <= (observed["in_cycles"] or [-latency])[-1] + latency + 1:
        await FallingEdge(dut.clk)  # outputs are stable here, inputs taken at the next rise
        if int(dut.valid_out.value):
            scores, class_idx = _read(dut)
            observed["scores"].append(scores)
            observed["class_idx"].append(class_idx)
            observed["out_cycles"].append(cycle)
        if pending and pattern[cycle % len(pattern)]:
            port.value = int(pending.pop(0), 16)
            dut.valid_in.value = 1
            observed["in_cycles"].append(cycle)
        else:
            port.value = junk.getrandbits(stimulus["num_inputs"])
            dut.valid_in.value = 0
        cycle += 1


def _check(stimulus, observed):
    latency = stimulus["latency"]
    if latency:
        sent, came = observed["in_cycles"], observed["out_cycles"]
        assert len(came) == len(sent), f"{len(sent)} samples went in, {len(came)} came out"
        late = [(i, o) for i, o in zip(sent, came) if o - i != latency]
        assert not late, (f"valid_out must follow valid_in by {latency} cycles; sample "
                          f"entered at cycle {late[0][0]} left at cycle {late[0][1]}")
    expected = stimulus.get("expected")
    if expected:
        for k, (want, got) in enumerate(zip(zip(expected["scores"], expected["class_idx"]),
                                            zip(observed["scores"], observed["class_idx"]))):
            assert int(want[0], 16) == int(got[0], 16) and want[1] == got[1], (
                f"sample {k} (x = 0x{stimulus['inputs'][k]}): expected scores 0x{want[0]} "
                f"class {want[1]}, simulated scores 0x{got[0]} class {got[1]}")
        assert len(observed["scores"]) == len(expected["scores"])


@cocotb.test()
async def drive_vectors(dut):
    """Apply every input vector, record the outputs, check timing and expected values."""
    with open(os.environ["LGN_SIM_VECTORS"]) as f:
        stimulus = json.load(f)
    observed = {"scores": [], "class_idx": [], "in_cycles": [], "out_cycles": []}
    if stimulus["latency"]:
        await _pipelined(dut, stimulus, observed)
    else:
        await _combinational(dut, stimulus, observed)
    results = os.environ.get("LGN_SIM_RESULTS")
    if results:
        with open(results, "w") as f:
            json.dump(observed, f)
    _check(stimulus, observed)
    dut._log.info("%d samples agree", len(observed["scores"]))
