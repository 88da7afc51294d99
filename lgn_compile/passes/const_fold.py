"""Constant folding and operand simplification.

In topological order, each gate: fixes constant operands into its table (cofactor),
merges an operand that appears twice, drops operands its table ignores, and then becomes
a constant (no operands left) or a plain wire (1-input identity). Consumers are visited
after their operands, so one sweep propagates constants through the whole network.
"""

from __future__ import annotations

import networkx as nx

from lgn_compile import ir
from lgn_compile.gates import cofactor, depends_on


def const_fold(g: nx.DiGraph) -> tuple[nx.DiGraph, dict]:
    stats = {"constant_operands": 0, "merged_operands": 0, "ignored_operands": 0,
             "gates_to_constants": 0, "gates_to_wires": 0}
    for node in list(ir.topological_gates(g)):
        table, ops = g.nodes[node]["table"], list(ir.operands(g, node))
        table, ops = _fold_constants(g, table, ops, stats)
        table, ops = _merge_duplicates(table, ops, stats)
        table, ops = _drop_ignored(table, ops, stats)
        if not ops:
            ir.make_const(g, node, table & 1)
            stats["gates_to_constants"] += 1
        elif len(ops) == 1 and table == 0b10:
            ir.replace_uses(g, node, ops[0])
            g.remove_node(node)
            stats["gates_to_wires"] += 1
        else:
            ir.set_gate(g, node, table, tuple(ops))
    return g, stats


def _fold_constants(g, table, ops, stats):
    for i in reversed(range(len(ops))):
        if ir.kind(g, ops[i]) == ir.CONST:
            table = cofactor(table, len(ops), i, g.nodes[ops[i]]["value"])
            del ops[i]
            stats["constant_operands"] += 1
    return table, ops


def _merge_duplicates(table, ops, stats):
    """x_i == x_j: keep only the table entries where both bits agree, then drop x_j."""
    for j in reversed(range(len(ops))):
        i = ops.index(ops[j])
        if i == j:
            continue
        arity = len(ops)
        merged, out_bit = 0, 0
        for a in range(1 << arity):
            if (a >> j) & 1 == 0:
                source = a | (((a >> i) & 1) << j)
                merged |= ((table >> source) & 1) << out_bit
                out_bit += 1
        table = merged
        del ops[j]
        stats["merged_operands"] += 1
    return table, ops


def _drop_ignored(table, ops, stats):
    for i in reversed(range(len(ops))):
        if not depends_on(table, len(ops), i):
            table = cofactor(table, len(ops), i, 0)
            del ops[i]
            stats["ignored_operands"] += 1
    return table, ops
