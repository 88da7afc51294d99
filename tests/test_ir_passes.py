"""IR extraction, the reference evaluator and the passes: every pass preserves the function."""

import numpy as np
import pytest

from lgn_compile import evaluate, gates, ir
from lgn_compile.errors import LgnError
from lgn_compile.model_file import _validate
from lgn_compile.passes import PASSES, parse_pass_list, run_pipeline
from lgn_compile.random_net import random_input_bits, random_model_dict


def brute_force_scores(model, bits):
    """Layer by layer, table lookups on plain ints: independent of the IR and numpy packing."""
    values = bits.astype(np.int64)
    for layer in model.layers:
        index = sum(values[:, layer.operands[:, i]] << i for i in range(layer.arity))
        values = np.take_along_axis(layer.tables[None, :, :].repeat(len(bits), 0),
                                    index[:, :, None], axis=2)[:, :, 0].astype(np.int64)
    return values.reshape(len(bits), model.num_classes, -1).sum(axis=2)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("arity", [2, 3, 6])
def test_reference_evaluator_matches_brute_force(seed, arity):
    model = _validate(random_model_dict(seed, num_inputs=11, layer_sizes=(30, 20, 12),
                                        num_classes=3, arity=arity))
    bits = random_input_bits(seed, 150, model.num_inputs)
    assert np.array_equal(evaluate.scores(ir.from_model(model), bits),
                          brute_force_scores(model, bits))


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("arity", [2, 4])
@pytest.mark.parametrize("passes", [["const_fold"], ["dead_gates"], ["const_fold", "dead_gates"]])
def test_passes_preserve_function(seed, arity, passes):
    model = _validate(random_model_dict(seed, num_inputs=9, layer_sizes=(40, 30, 8),
                                        num_classes=2, arity=arity))
    graph = ir.from_model(model)
    bits = random_input_bits(seed + 100, 300, model.num_inputs)
    optimized, report = run_pipeline(graph, passes)
    ir.validate(optimized)
    assert np.array_equal(evaluate.scores(optimized, bits), evaluate.scores(graph, bits))
    assert report["after"]["gates"] <= report["before"]["gates"]
    assert graph.number_of_nodes() == report["before"]["gates"] + 9 + 8  # input left untouched


def _chain_model(tables_per_layer, operands_per_layer, num_inputs, num_classes=1):
    import torch

    layers, ops, tabs, in_dim = [], [], [], num_inputs
    for tables, operands in zip(tables_per_layer, operands_per_layer):
        ops.append(torch.tensor(operands, dtype=torch.int64))
        tabs.append(torch.tensor([[(t >> j) & 1 for j in range(4)] for t in tables],
                                 dtype=torch.uint8))
        layers.append({"type": "logic", "arity": 2, "in_dim": in_dim, "out_dim": len(tables)})
        in_dim = len(tables)
    return _validate({"format": "lgn-model", "version": 1,
                      "config": {"name": "chain", "num_inputs": num_inputs,
                                 "num_classes": num_classes, "layers": layers},
                      "discrete": {"operands": ops, "tables": tabs}})


def test_const_fold_removes_constants_and_wires():
    # Layer 0: TRUE, A (pass-through of x0), AND(x0, x1). Layer 1: AND(TRUE, A) -> wire to x0,
    # and XOR(x1&x0, TRUE) -> NAND-like 2-input gate over inputs.
    model = _chain_model([[gates.TRUE, gates.A, gates.AND], [gates.AND, gates.XOR]],
                         [[[0, 1], [0, 1], [0, 1]], [[0, 1], [2, 0]]], num_inputs=2)
    optimized, report = run_pipeline(ir.from_model(model), ["const_fold", "dead_gates"])
    and_gate, inverter = ir.topological_gates(optimized)
    assert (optimized.nodes[and_gate]["table"], ir.operands(optimized, and_gate)) == (gates.AND, (0, 1))
    assert (optimized.nodes[inverter]["table"], ir.operands(optimized, inverter)) == (0b01, (and_gate,))
    assert report["after"]["inverters"] == 1
    drivers = [ir.operands(optimized, o)[0] for o in ir.outputs(optimized)]
    assert drivers[0] == 0
    bits = np.array([[a, b] for a in (0, 1) for b in (0, 1)], dtype=np.uint8)
    assert np.array_equal(evaluate.output_bits(optimized, bits)[:, 1], 1 - (bits[:, 0] & bits[:, 1]))
    assert report["after"]["gates"] == 2


def test_const_fold_merges_duplicate_operands_and_folds_constant_outputs():
    # XOR(x0, x0) is constant 0, AND(x0, x0) is x0: neither needs a gate.
    model = _chain_model([[gates.XOR, gates.AND]], [[[0, 0], [0, 0]]], num_inputs=1, num_classes=2)
    optimized, report = run_pipeline(ir.from_model(model), ["const_fold", "dead_gates"])
    assert report["after"]["gates"] == 0
    drivers = [optimized.nodes[ir.operands(optimized, o)[0]] for o in ir.outputs(optimized)]
    assert drivers[0] == {"kind": ir.CONST, "value": 0}
    assert drivers[1]["kind"] == ir.INPUT


def test_dead_gates_removes_unreachable_logic():
    # Layer 0 has 3 gates, layer 1 reads only gate 2: gates 0 and 1 are dead.
    model = _chain_model([[gates.AND, gates.OR, gates.XOR], [gates.A]], [[[0, 1]] * 3, [[2, 2]]],
                         num_inputs=2)
    _, report = run_pipeline(ir.from_model(model), ["dead_gates"])
    assert report["rounds"][0][0]["removed_gates"] == 2
    assert report["after"]["gates"] == 2


def test_unknown_pass_is_a_user_error():
    assert parse_pass_list("const_fold, dead_gates") == ["const_fold", "dead_gates"]
    with pytest.raises(LgnError, match="unknown pass 'nope'"):
        parse_pass_list("const_fold,nope")
    assert set(PASSES) == {"const_fold", "dead_gates"}


def test_validate_catches_broken_graphs():
    model = _validate(random_model_dict(0))
    graph = ir.from_model(model)
    ir.validate(graph)
    gate = next(ir.topological_gates(graph))
    graph.nodes[gate]["table"] = 1 << 20
    with pytest.raises(LgnError, match="too wide"):
        ir.validate(graph)
    graph = ir.from_model(model)
    graph.add_edge(next(iter(ir.outputs(graph))) - 1, 0)  # a gate feeding an input: a cycle or bad edge
    with pytest.raises(LgnError):
        ir.validate(graph)
