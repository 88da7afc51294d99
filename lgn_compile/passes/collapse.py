"""Collapse: a gate swallows a gate operand when the combined function needs no more operands.

For gate `g(..., h, ...)` with `h = f(a, b)`, the composite over the union of g's other
operands and h's operands is computed; if it depends on no more signals than g has now
(e.g. AND(a, AND(a, b)) = AND(a, b), XOR(a, XOR(a, b)) = b), g reads them directly and
`h` may die. It never adds a gate, and the operands only move towards the inputs, so
repeating it terminates.
"""

from __future__ import annotations

from functools import lru_cache

import networkx as nx

from lgn_compile import ir
from lgn_compile.gates import simplify


def collapse(g: nx.DiGraph) -> tuple[nx.DiGraph, dict]:
    stats = {"collapsed_operands": 0}
    nodes = ir.node_attrs(g)
    for node in ir.topological_gates(g):
        attrs = nodes[node]
        for position, inner in enumerate(attrs["operands"]):
            inner_attrs = nodes[inner]
            if inner_attrs["kind"] != ir.GATE:
                continue
            ops = attrs["operands"]
            leaves = tuple(dict.fromkeys(ops[:position] + ops[position + 1:]
                                         + inner_attrs["operands"]))
            if len(leaves) > len(ops) + 1:  # cannot shrink back to the current arity
                continue
            shape = tuple(-1 if i == position else leaves.index(op) for i, op in enumerate(ops))
            inner_shape = tuple(leaves.index(op) for op in inner_attrs["operands"])
            table = _composite(attrs["table"], shape, position, inner_attrs["table"],
                               inner_shape, len(leaves))
            new_table, keep = simplify(table, leaves)
            if len(keep) <= len(ops):
                ir.rewrite_gate(g, node, new_table, tuple(leaves[i] for i in keep))
                stats["collapsed_operands"] += 1
                break  # operands changed: the next sweep looks again
    return g, stats


@lru_cache(maxsize=65536)
def _composite(table: int, shape: tuple, position: int, inner_table: int,
               inner_shape: tuple, num_leaves: int) -> int:
    """Table over the leaves of `table(...)` with its operand `position` = `inner_table(...)`.

    `shape[i]` / `inner_shape[i]` give the leaf each operand of the outer / inner gate reads
    (the outer gate's own entry at `position` is ignored).
    """
    result = 0
    for j in range(1 << num_leaves):
        inner_index = sum(((j >> leaf) & 1) << i for i, leaf in enumerate(inner_shape))
        inner_value = (inner_table >> inner_index) & 1
        index = sum((inner_value if i == position else (j >> leaf) & 1) << i
                    for i, leaf in enumerate(shape))
        result |= ((table >> index) & 1) << j
    return result
