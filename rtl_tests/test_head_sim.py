"""The LUT-sized head in simulation: counter trees over wide groups, and mutations of it.

Groups of 3 (the other RTL tests) need one counter; here groups of 24 and 37 bits need
several counter levels and the final adder, combinational and registered at every level.
"""

from __future__ import annotations

import re

import pytest
from rtl_helpers import OPTIMIZE, assert_matches_reference, random_ir, simulate_pipelined

from lgn_compile import evaluate
from lgn_compile.backends.verilog import build_verilog
from lgn_compile.random_net import random_input_bits

VALID = [1] * 100 + [0, 1, 0, 0, 1]


@pytest.mark.parametrize("group_size", [24, 37])
def test_wide_groups_match_reference(simulator, tmp_path, group_size):
    graph = random_ir(group_size, 15, (90, 3 * group_size), 3, 2, OPTIMIZE,
                      name=f"wide{group_size}")
    bits = random_input_bits(group_size, 240, 15)
    for pipeline in (0, 1):
        files, design = build_verilog(graph, pipeline, "sync")
        (tmp_path / f"p{pipeline}").mkdir()
        assert design.levels["popcount"] >= 3  # counter levels and the adder
        run = simulate_pipelined(graph, bits, simulator, tmp_path / f"p{pipeline}", pipeline,
                                 "sync", VALID if pipeline else None,
                                 files[f"{graph.graph['name']}.v"])
        assert_matches_reference(graph, bits, run.scores, run.classes)
        if pipeline:
            assert all(out - entered == design.latency
                       for entered, out in zip(run.in_cycles, run.out_cycles))


def test_full_adder_head_matches_reference(tmp_path):
    """--counter-inputs 3 (the LUT4 FPGAs' head), registered at every level, under Icarus."""
    graph = random_ir(37, 15, (90, 3 * 37), 3, 2, OPTIMIZE, name="fa37")
    bits = random_input_bits(37, 240, 15)
    files, design = build_verilog(graph, 1, "sync", counter_inputs=3)
    assert design.levels["popcount"] >= 6
    run = simulate_pipelined(graph, bits, "icarus", tmp_path, 1, "sync", VALID,
                             files["fa37.v"])
    assert_matches_reference(graph, bits, run.scores, run.classes)
    assert all(out - entered == design.latency
               for entered, out in zip(run.in_cycles, run.out_cycles))


def _carry_as_sum(source: str) -> str:
    """A counter's carry bit (bit 1) computed as its sum bit: the wrong compressor output."""
    carry = re.search(r"^\s*wire (pc0_1_(\d+))_1 = .*;$", source, re.MULTILINE)
    total = re.search(rf"^\s*wire {carry[1]}_0 = (.*);$", source, re.MULTILINE)
    return source.replace(carry[0], f"    wire {carry[1]}_1 = {total[1]};")


def _swap_rows(source: str) -> str:
    """The final adder's two rows with their bits reversed: bits in the wrong columns."""
    adder = re.search(r"^\s*wire \[\d+:0\] score1 = \{(.*?)\} \+ \{(.*?)\}( \+ \d+'d\d+)?;$",
                      source, re.MULTILINE)
    first = ", ".join(reversed(adder[1].split(", ")))
    return source.replace(adder[0], adder[0].replace(adder[1], first, 1))


@pytest.mark.parametrize("mutate", [_carry_as_sum, _swap_rows])
def test_head_mutation_is_caught(tmp_path, mutate):
    """Icarus on the mutated module disagrees with the reference scores."""
    graph = random_ir(5, 15, (90, 72), 3, 2, OPTIMIZE, name="head_mutant")
    bits = random_input_bits(5, 240, 15)
    source = build_verilog(graph)[0]["head_mutant.v"]
    mutant = mutate(source)
    assert mutant != source
    run = simulate_pipelined(graph, bits, "icarus", tmp_path, 0, "sync", None, mutant)
    expected = evaluate.scores(graph, bits)
    assert (run.scores != expected).any(), "the mutated head went unnoticed"


def test_comparator_mutation_is_caught(tmp_path):
    """The first argmax match's subtraction with its operands swapped (the borrow then says
    left > right): the scores stay right and the class index goes wrong."""
    graph = random_ir(5, 15, (90, 72), 3, 2, OPTIMIZE, name="cmp_mutant")
    bits = random_input_bits(5, 240, 15)
    source = build_verilog(graph)[0]["cmp_mutant.v"]
    sub = re.search(r"^\s*wire \[\d+:0\] sub1_0 = (\{1'b0, \w+\}) - (\{1'b0, \w+\});$", source,
                    re.MULTILINE)
    mutant = source.replace(sub[0], sub[0].replace(f"{sub[1]} - {sub[2]}",
                                                   f"{sub[2]} - {sub[1]}"))
    assert mutant != source
    run = simulate_pipelined(graph, bits, "icarus", tmp_path, 0, "sync", None, mutant)
    assert (run.scores == evaluate.scores(graph, bits)).all()
    assert (run.classes != evaluate.scores(graph, bits).argmax(axis=1)).any(), \
        "the mutated comparator went unnoticed"
