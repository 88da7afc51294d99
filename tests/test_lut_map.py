"""LUT-K mapping: the LUT netlist computes the network (exhaustively, on random vectors and
by yosys proof), LUTs fit K, the depth pass is optimal against brute-force cut enumeration,
known structures map to their known LUT counts, and a flipped table bit is caught."""

import numpy as np
import pytest

from lgn_compile import evaluate, ir
from lgn_compile.errors import LgnError
from lgn_compile.exports import EXPORTS, export_blif
from lgn_compile.gates import AND, XOR, full_mask
from lgn_compile.model_file import model_from_dict
from lgn_compile.random_net import fuzz_model_dict, random_input_bits
from lgn_compile.techmap import lut_map

from test_exports import _network, prove_equivalent
from test_ir_passes import all_input_bits


def check_luts(mapping, k):
    """Every LUT reads at most K distinct, earlier signals through a table of that width."""
    defined = set(range(mapping.source.graph["num_inputs"]))
    for lut in mapping.luts:
        assert 1 <= len(lut.leaves) <= k and len(set(lut.leaves)) == len(lut.leaves)
        assert set(lut.leaves) <= defined and 0 <= lut.table <= full_mask(len(lut.leaves))
        defined.add(lut.root)


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("arity", [1, 2, 3, 6])
@pytest.mark.parametrize("passes", [0, 2])
@pytest.mark.parametrize("k", [3, 4, 6])
def test_lut_netlist_computes_the_network_exhaustively(seed, arity, passes, k):
    graph, optimized = _network(seed, arity, num_inputs=9, layer_sizes=(30, 20, 8),
                                num_classes=2, passes=passes)
    mapping = lut_map(optimized, k)
    check_luts(mapping, k)
    bits = all_input_bits(9)
    assert np.array_equal(evaluate.output_bits(mapping.to_ir(), bits),
                          evaluate.output_bits(graph, bits))


@pytest.mark.parametrize("seed", range(8))
def test_fuzz_nets_map_exactly(seed):
    """Constants, duplicate and dead gates, repeated operands, arity up to 6, one-bit groups."""
    model = model_from_dict(fuzz_model_dict(seed)[0])
    graph = ir.from_model(model)
    bits = random_input_bits(seed, 300, model.num_inputs)
    for k in (4, 6):
        mapping = lut_map(graph, k)
        check_luts(mapping, k)
        assert np.array_equal(evaluate.output_bits(mapping.to_ir(), bits),
                              evaluate.output_bits(graph, bits))


def test_bigger_net_on_random_vectors():
    graph, optimized = _network(4, 2, num_inputs=64, layer_sizes=(1500, 1200, 1000, 400),
                                num_classes=4)
    bits = random_input_bits(0, 2000, 64)
    expected = evaluate.output_bits(graph, bits)
    for k in (4, 6):
        mapping = lut_map(optimized, k)
        check_luts(mapping, k)
        assert mapping.num_luts < ir.stats(optimized)["gates"]
        assert np.array_equal(evaluate.output_bits(mapping.to_ir(), bits), expected)
        stages = [s["stage"] for s in mapping.stages]
        assert stages == ["subject graph", "depth", "area flow", "exact area", "exact area",
                          "functions"]
        assert [s["depth"] for s in mapping.stages[1:]] == [mapping.depth] * 5


# ---- depth: optimal for the structure ----------------------------------------------------

def brute_force_depth(g, k):
    """The least LUT depth of any mapping of g's structure: FlowMap labels over every
    k-feasible cut, enumerated without limit (small nets only). Gates must fit k."""
    cuts, label = {}, {}
    for node in g.nodes:
        if ir.kind(g, node) in (ir.INPUT, ir.CONST):
            cuts[node], label[node] = [frozenset([node])], 0
        elif ir.kind(g, node) == ir.GATE:
            ops = ir.operands(g, node)
            found = {frozenset()}
            for op in ops:
                found = {a | b for a in found for b in cuts[op] if len(a | b) <= k}
            label[node] = min(1 + max(label[leaf] for leaf in cut) for cut in found)
            cuts[node] = list(found) + [frozenset([node])]
    return max(label[ir.operands(g, out)[0]] for out in ir.outputs(g))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k", [3, 4, 6])
def test_depth_is_optimal(seed, k):
    _, optimized = _network(seed, arity=2, num_inputs=10, layer_sizes=(40, 40, 30, 20, 6))
    best = brute_force_depth(optimized, k)
    mapping = lut_map(optimized, k)
    assert mapping.stages[1]["stage"] == "depth" and mapping.stages[1]["depth"] == best
    assert mapping.depth <= best  # area recovery keeps it; folding a LUT may even lower it


@pytest.mark.parametrize("seed,k", [(0, 6), (1, 6), (0, 4)])
def test_depth_is_optimal_on_deep_reconvergent_nets(seed, k):
    """8 layers over few inputs: optimal LUTs span 3 gate levels where leaves reconverge.
    Ranking equally deep cuts by area flow before leaf count (not ABC's order) missed it."""
    _, optimized = _network(seed, arity=2, num_inputs=96, layer_sizes=(700,) * 8,
                            num_classes=10)
    best = brute_force_depth(optimized, k)
    assert lut_map(optimized, k).stages[1]["depth"] == best


def _tree_net(num_inputs, table, shape):
    """A net of one 2-input gate kind over x[0..num_inputs-1], as a balanced tree or a chain."""
    g = ir.new_ir("tree", num_inputs, 1, 1)
    signals = list(range(num_inputs))
    while len(signals) > 1:
        if shape == "tree":
            signals = [ir.add_gate(g, table, (a, b), 0)
                       for a, b in zip(signals[::2], signals[1::2])]
        else:
            signals = [ir.add_gate(g, table, tuple(signals[:2]), 0)] + signals[2:]
    ir.add_output(g, signals[0], 0, 0)
    return g


@pytest.mark.parametrize("inputs,table,shape,k,luts,depth", [
    (16, XOR, "tree", 4, 5, 2),   # LUT4s of 4 leaves, then one over them
    (11, AND, "chain", 4, 4, 4),  # each LUT4 takes the chain and 3 new inputs
    (36, XOR, "chain", 6, 7, 7),  # 35 gates, 5 new inputs per LUT6
    (2, AND, "tree", 6, 1, 1),
])
def test_known_structures(inputs, table, shape, k, luts, depth):
    g = _tree_net(inputs, table, shape)
    mapping = lut_map(g, k)
    assert (mapping.num_luts, mapping.depth) == (luts, depth)
    bits = random_input_bits(1, 500, inputs)
    assert np.array_equal(evaluate.output_bits(mapping.to_ir(), bits),
                          evaluate.output_bits(g, bits))


def test_wide_gates_are_split_for_small_k():
    """6-input gates under K=3: Shannon muxes; still exact, still <= 3 leaves."""
    graph, optimized = _network(1, arity=6, num_inputs=8, layer_sizes=(12, 6), num_classes=2)
    mapping = lut_map(optimized, 3)
    check_luts(mapping, 3)
    fresh = [lut.root for lut in mapping.luts if lut.root >= optimized.graph["next_id"]]
    assert fresh  # split parts get ids of their own
    bits = all_input_bits(8)
    assert np.array_equal(evaluate.output_bits(mapping.to_ir(), bits),
                          evaluate.output_bits(graph, bits))


def test_bad_k_is_a_user_error():
    _, optimized = _network(0)
    for k in (2, 7):
        with pytest.raises(LgnError, match="LUT size"):
            lut_map(optimized, k)


# ---- mutation: a flipped table bit is caught; yosys proves the netlist ----------------

def node_values(g, nodes, bits):
    """Values [N, len(nodes)] of IR nodes on input vectors: a copy of g reading them out."""
    probe = g.copy()
    probe.remove_nodes_from(ir.outputs(probe))
    probe.graph.update(num_classes=1, group_size=len(nodes))
    for index, node in enumerate(nodes):
        ir.add_output(probe, node, index, 0)
    return evaluate.output_bits(probe, bits)


def mutant(mapping, bits):
    """The mapping with one table bit flipped in an output's LUT: the bit vector 0 selects."""
    roots = {d for d in mapping.drivers if not isinstance(d, str)}
    position, lut = next((i, lut) for i, lut in enumerate(mapping.luts) if lut.root in roots)
    leaf_bits = node_values(mapping.source, lut.leaves, bits[:1])[0].astype(int)
    minterm = int((leaf_bits << np.arange(len(lut.leaves))).sum())
    luts = list(mapping.luts)
    luts[position] = type(lut)(lut.root, lut.leaves, lut.table ^ (1 << minterm))
    return type(mapping)(mapping.k, luts, mapping.drivers, mapping.source)


@pytest.mark.parametrize("seed,k", [(0, 4), (1, 6), (2, 3)])
def test_flipped_table_bit_is_caught_by_simulation(seed, k):
    graph, optimized = _network(seed, num_inputs=9, layer_sizes=(30, 20, 8), num_classes=2)
    bits = all_input_bits(9)
    broken = mutant(lut_map(optimized, k), bits)
    assert not np.array_equal(evaluate.output_bits(broken.to_ir(), bits),
                              evaluate.output_bits(graph, bits))


@pytest.mark.parametrize("seed,arity,k", [(1, 2, 6), (2, 3, 4)])
def test_yosys_proves_lut_netlist_equivalent(tmp_path, monkeypatch, seed, arity, k):
    """The emitted BLIF (one .names per LUT) against the unoptimized network's Verilog."""
    graph, optimized = _network(seed, arity)
    assert prove_equivalent(tmp_path, graph, optimized, f"blif-lut{k}")
    broken = mutant(lut_map(optimized, k), random_input_bits(seed, 1, 7))
    monkeypatch.setitem(EXPORTS, "blif-mutant", lambda g: export_blif(broken.to_ir()))
    assert not prove_equivalent(tmp_path, graph, optimized, "blif-mutant")


def test_fuzz_checks_the_lut_netlist(monkeypatch, tmp_path):
    """The differential fuzz compares the LUT netlist, and a broken mapping is reported."""
    from lgn_compile.verify import fuzz

    case = next(c for c in map(fuzz.make_case, range(40, 80))
                if any(lut.root in lut_map(c.optimized, 6).drivers
                       for lut in lut_map(c.optimized, 6).luts))
    assert not fuzz.check_in_process(case, tmp_path)
    monkeypatch.setattr(fuzz, "lut_map", lambda g, k: mutant(lut_map(g, k), case.bits))
    assert [m.path for m in fuzz.check_in_process(case, tmp_path)] == ["LUT netlist"]


def test_outputs_of_inputs_and_constants_need_no_luts():
    g = ir.new_ir("wires", 2, 3, 1)
    ir.add_output(g, 1, 0, 0)
    ir.add_output(g, ir.add_const(g, 1), 1, 1)
    ir.add_output(g, ir.add_gate(g, AND, (0, ir.add_const(g, 0)), 0), 2, 2)  # AND(x, 0) = 0
    mapping = lut_map(g, 4)
    assert (mapping.num_luts, mapping.depth, mapping.drivers) == (0, 0, [1, "1", "0"])
    bits = all_input_bits(2)
    assert np.array_equal(evaluate.output_bits(mapping.to_ir(), bits),
                          evaluate.output_bits(g, bits))


def test_cli_writes_the_lut_netlist(tmp_path):
    from lgn_compile.cli import main
    from lgn_compile.model_file import save_model
    from lgn_compile.random_net import random_model_dict

    save_model(tmp_path / "m.pt", random_model_dict(3, num_inputs=6, layer_sizes=(10, 4),
                                                      num_classes=2))
    assert main([str(tmp_path / "m.pt"), "-t", "blif-lut4,blif-lut6", "-o",
                 str(tmp_path / "out"), "-q"]) == 0
    for k in (4, 6):
        text = (tmp_path / "out" / f"random_net.lut{k}.blif").read_text()
        assert text.count(".names") >= 4 and ".outputs y[0] y[1] y[2] y[3]" in text
