"""Helpers shared by the RTL simulation tests: random IRs, side-by-side builds, comparison."""

from __future__ import annotations

import networkx as nx
import numpy as np

from lgn_compile import evaluate, ir
from lgn_compile.backends.verilog import emit_verilog
from lgn_compile.model_file import _validate
from lgn_compile.passes import run_pipeline
from lgn_compile.random_net import random_model_dict
from lgn_compile.verify.simulate import simulate, simulate_run

OPTIMIZE = ["const_fold", "dead_gates"]

# (seed, num_inputs, layer_sizes, num_classes, arity, passes): all with groups of 3 bits.
SIDE_BY_SIDE = [
    (1, 13, (40, 30, 12), 4, 2, OPTIMIZE),
    (1, 13, (40, 30, 12), 4, 2, []),          # the same net at -O0: dead and constant gates
    (2, 11, (24, 9), 3, 3, OPTIMIZE),
    (3, 9, (20, 6), 2, 4, []),
    (4, 8, (16, 6), 2, 5, OPTIMIZE),
    (5, 7, (12, 9), 3, 6, []),
]


def random_ir(seed, num_inputs, layer_sizes, num_classes, arity, passes, name="net"):
    model = _validate(random_model_dict(seed, num_inputs, layer_sizes, num_classes, arity, name))
    graph, _ = run_pipeline(ir.from_model(model), passes)
    return graph


def side_by_side(graphs: list[nx.DiGraph], name: str) -> nx.DiGraph:
    """One IR computing all `graphs` at once: their inputs and their classes concatenated."""
    group_size = graphs[0].graph["group_size"]
    assert all(g.graph["group_size"] == group_size for g in graphs)
    combined = ir.new_ir(name, sum(g.graph["num_inputs"] for g in graphs),
                         sum(g.graph["num_classes"] for g in graphs), group_size)
    input_offset = class_offset = 0
    for g in graphs:
        mapping = {}
        for node in nx.lexicographical_topological_sort(g):
            attrs = g.nodes[node]
            if attrs["kind"] == ir.INPUT:
                mapping[node] = input_offset + attrs["index"]
            elif attrs["kind"] == ir.CONST:
                mapping[node] = ir.add_const(combined, attrs["value"])
            elif attrs["kind"] == ir.GATE:
                mapping[node] = ir.add_gate(combined, attrs["table"],
                                            tuple(mapping[op] for op in attrs["operands"]),
                                            attrs["layer"])
        for out in ir.outputs(g):
            attrs = g.nodes[out]
            ir.add_output(combined, mapping[attrs["operands"][0]],
                          class_offset * group_size + attrs["index"], class_offset + attrs["group"])
        input_offset += g.graph["num_inputs"]
        class_offset += g.graph["num_classes"]
    ir.validate(combined)
    return combined


def emit_and_simulate(graph, bits, simulator, tmp_path, source=None):
    name = graph.graph["name"]
    verilog = tmp_path / f"{name}.v"
    verilog.write_text(emit_verilog(graph)[f"{name}.v"] if source is None else source)
    return simulate(verilog, name, bits, simulator, tmp_path / f"build_{simulator}")


def simulate_pipelined(graph, bits, simulator, tmp_path, pipeline, reset, valid, source=None):
    """Emit with a pipeline and run `bits` through it with the `valid` pattern: a SimRun."""
    name = graph.graph["name"]
    verilog = tmp_path / f"{name}.v"
    verilog.write_text(source or emit_verilog(graph, pipeline, reset)[f"{name}.v"])
    return simulate_run(verilog, name, bits, simulator, tmp_path / f"build_{simulator}", valid)


def assert_matches_reference(graph, bits, scores, classes):
    expected = evaluate.scores(graph, bits)
    bad = np.flatnonzero((scores != expected).any(axis=1)
                         | (classes != np.argmax(expected, axis=1)))
    assert len(bad) == 0, (
        f"{len(bad)}/{len(bits)} vectors disagree; first, vector {bad[0]}: simulated scores "
        f"{scores[bad[0]].tolist()} class {classes[bad[0]]}, reference "
        f"{expected[bad[0]].tolist()} class {np.argmax(expected[bad[0]])}")
