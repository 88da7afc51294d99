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
            ops, inner_ops = attrs["operands"], inner_attrs["operands"]
            others = ops[:position] + ops[position + 1:]
            leaves = tuple(dict.fromkeys(others + inner_ops))
            if len(leaves) > len(ops) + 1:  # cannot shrink back to the current arity
                continue
            if len(leaves) == len(others) + len(inner_ops):  # all distinct, the usual case
                result = _collapsed_apart(attrs["table"], len(others), position,
                                          inner_attrs["table"], len(inner_ops))
            else:
                result = _collapsed(attrs["table"], tuple(map(leaves.index, others)), position,
                                    inner_attrs["table"], tuple(map(leaves.index, inner_ops)),
                                    len(leaves))
            if result is not None:
                table, keep = result
                ir.rewrite_gate(g, node, table, tuple(leaves[i] for i in keep))
                stats["collapsed_operands"] += 1
                break  # operands changed: the next sweep looks again
    return g, stats


@lru_cache(maxsize=65536)
def _collapsed_apart(table: int, num_others: int, position: int, inner_table: int,
                     inner_arity: int) -> tuple[int, tuple[int, ...]] | None:
    """_collapsed when no leaf repeats: the shapes follow from the arities alone, so the
    (common) answer is looked up by five ints, without building shape tuples."""
    return _collapsed(table, tuple(range(num_others)), position, inner_table,
                      tuple(range(num_others, num_others + inner_arity)),
                      num_others + inner_arity)


@lru_cache(maxsize=65536)
def _collapsed(table: int, shape: tuple, position: int, inner_table: int, inner_shape: tuple,
               num_leaves: int) -> tuple[int, tuple[int, ...]] | None:
    """(table, leaves kept) of the gate with its operand `position` replaced by the inner
    gate's operands, or None if that needs more operands than the gate has now.

    Cached on the shapes alone: a sweep meets the same few table/shape combinations
    hundreds of thousands of times. `shape` / `inner_shape` give the leaf each of the
    outer gate's other operands / the inner gate's operands read.
    """
    composite = 0
    for j in range(1 << num_leaves):
        inner_index = sum(((j >> leaf) & 1) << i for i, leaf in enumerate(inner_shape))
        bits = [(j >> leaf) & 1 for leaf in shape]
        bits.insert(position, (inner_table >> inner_index) & 1)
        index = sum(bit << i for i, bit in enumerate(bits))
        composite |= ((table >> index) & 1) << j
    new_table, keep = simplify(composite, tuple(range(num_leaves)))
    return (new_table, keep) if len(keep) <= len(shape) + 1 else None
