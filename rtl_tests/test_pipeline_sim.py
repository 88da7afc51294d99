"""Pipelined Verilog (`--pipeline N`) under Icarus and Verilator: values, latency, throughput.

The bench itself asserts that every valid_out comes exactly `latency` clocks after its
valid_in and that no other cycle has valid_out; the tests here check the values against
the reference, and that a burst of back-to-back samples leaves back to back (one sample
per clock). The random networks share one Verilator build, as in test_verilog_sim.py.
"""

from __future__ import annotations

import re

import pytest
from rtl_helpers import (OPTIMIZE, SIDE_BY_SIDE, assert_matches_reference, random_ir,
                         side_by_side, simulate_pipelined)

from lgn_compile.backends.verilog import emit_verilog
from lgn_compile.errors import LgnError
from lgn_compile.random_net import random_input_bits
from lgn_compile.verify.simulate import parse_ports

BURST = 120
# valid_in: a burst of BURST samples back to back, then gaps of one to three cycles
VALID = [1] * BURST + [0, 1, 1, 0, 0, 1, 0, 0, 0, 1, 1, 1]


def assert_pipeline_timing(run, latency, num_samples):
    assert len(run.in_cycles) == len(run.out_cycles) == num_samples
    assert all(out - entered == latency for entered, out in zip(run.in_cycles, run.out_cycles))
    burst = run.out_cycles[:BURST]
    assert burst == list(range(burst[0], burst[0] + BURST)), "the burst did not leave back to back"
    assert len(set(run.in_cycles)) == num_samples and run.in_cycles[-1] >= len(VALID)


def test_every_level_registered(simulator, tmp_path):
    """pipeline=1 (the most registers), asynchronous reset, six random nets side by side."""
    graph = side_by_side([random_ir(*case) for case in SIDE_BY_SIDE], "piped_nets")
    bits = random_input_bits(21, 300, graph.graph["num_inputs"])
    source = emit_verilog(graph, 1, "async")["piped_nets.v"]
    latency = parse_ports(source).latency
    assert latency >= 7  # 3 logic layers, 2 adder levels, 4 argmax levels over 18 classes
    run = simulate_pipelined(graph, bits, simulator, tmp_path, 1, "async", VALID, source)
    assert_matches_reference(graph, bits, run.scores, run.classes)
    assert_pipeline_timing(run, latency, len(bits))


def test_no_reset_and_one_bit_groups(tmp_path):
    """pipeline=3 without rst: idle cycles flush the pipeline; 1-bit scores (Icarus only)."""
    graph = random_ir(6, 9, (20, 5), 5, 2, OPTIMIZE, name="one_bit_piped")
    bits = random_input_bits(22, 200, 9)
    run = simulate_pipelined(graph, bits, "icarus", tmp_path, 3, "none", VALID)
    assert_matches_reference(graph, bits, run.scores, run.classes)
    # 2 logic layers + 3 argmax rounds of 2 levels (1-bit scores need no counter), 3 per stage
    assert_pipeline_timing(run, 3, len(bits))


@pytest.mark.parametrize("tamper,message", [
    # valid_out one clock early: the bench's timing check must fail
    (lambda source, latency: source.replace(f"valid_out = valid_pipe[{latency - 1}]",
                                            f"valid_out = valid_pipe[{latency - 2}]"),
     "valid_out must follow valid_in by"),
    # one register of the datapath reads the stage before the one it should: values break
    (lambda source, latency: re.sub(r"(\w+)_q2 <= \1_q1;", r"\1_q2 <= \1;", source, count=1),
     None),
], ids=["valid_out_early", "register_skipped"])
def test_broken_pipelines_are_caught(tmp_path, tamper, message):
    graph = random_ir(7, 13, (40, 30, 24), 3, 2, OPTIMIZE, name="broken_pipe")
    bits = random_input_bits(23, 200, 13)
    source = emit_verilog(graph, 1, "sync")["broken_pipe.v"]
    broken = tamper(source, parse_ports(source).latency)
    assert broken != source
    if message:
        with pytest.raises(LgnError, match=message):
            simulate_pipelined(graph, bits, "icarus", tmp_path, 1, "sync", VALID, broken)
    else:
        run = simulate_pipelined(graph, bits, "icarus", tmp_path, 1, "sync", VALID, broken)
        with pytest.raises(AssertionError, match="vectors disagree"):
            assert_matches_reference(graph, bits, run.scores, run.classes)


def test_fanout_limited_registers_compute_the_same_one_clock_later(simulator, tmp_path):
    """--max-fanout 2: inputs registered (one more clock) and registers copied so that none
    has more than 2 readers; the values are the reference's, the timing one per clock."""
    graph = random_ir(8, 12, (40, 30, 24), 3, 2, OPTIMIZE, name="fanout_pipe")
    bits = random_input_bits(24, 200, 12)
    plain = parse_ports(emit_verilog(graph, 1, "sync")["fanout_pipe.v"]).latency
    source = emit_verilog(graph, 1, "sync", max_fanout=2)["fanout_pipe.v"]
    assert parse_ports(source).latency == plain + 1 and "_f1 <= " in source
    run = simulate_pipelined(graph, bits, simulator, tmp_path, 1, "sync", VALID, source)
    assert_matches_reference(graph, bits, run.scores, run.classes)
    assert_pipeline_timing(run, plain + 1, len(bits))


def test_a_copy_loading_the_wrong_value_is_caught(tmp_path):
    """Mutation: one copy loads its value's neighbour (another input bit): its readers, and
    so the scores, differ, which the simulation sees."""
    graph = random_ir(8, 12, (40, 30, 24), 3, 2, OPTIMIZE, name="fanout_pipe")
    bits = random_input_bits(25, 200, 12)
    source = emit_verilog(graph, 1, "sync", max_fanout=2)["fanout_pipe.v"]
    broken = re.sub(r"(x\d+_q1_f1 <= )x\[(\d+)\];",
                    lambda m: f"{m[1]}x[{(int(m[2]) + 1) % 12}];", source, count=1)
    assert broken != source
    run = simulate_pipelined(graph, bits, "icarus", tmp_path, 1, "sync", VALID, broken)
    with pytest.raises(AssertionError, match="vectors disagree"):
        assert_matches_reference(graph, bits, run.scores, run.classes)
