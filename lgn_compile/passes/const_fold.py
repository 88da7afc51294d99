"""Constant folding and operand simplification.

In topological order, each gate: fixes constant operands into its table, merges an
operand that appears twice, drops operands its table ignores (gates.simplify), and then
becomes a constant (no operands left) or a plain wire (1-input identity). Consumers are
visited after their operands, so one sweep propagates constants through the whole network.
"""

from __future__ import annotations

from functools import lru_cache

import networkx as nx

from lgn_compile import ir
from lgn_compile.gates import CONST_OPERANDS, IDENTITY, simplify


def const_fold(g: nx.DiGraph) -> tuple[nx.DiGraph, dict]:
    stats = {"simplified_gates": 0, "removed_operands": 0, "gates_to_constants": 0,
             "gates_to_wires": 0}
    nodes = ir.node_attrs(g)  # make_const edits these dicts in place, so they stay current
    for node in ir.topological_gates(g):
        attrs = nodes[node]
        ops = attrs["operands"]
        if _is_simple(attrs["table"], len(ops)) and len(set(ops)) == len(ops) and \
                all(nodes[op]["kind"] != ir.CONST for op in ops):
            continue  # the common case, decided without building a pattern
        pattern = tuple(CONST_OPERANDS[nodes[op]["value"]] if nodes[op]["kind"] == ir.CONST
                        else op for op in ops)
        table, keep = simplify(attrs["table"], pattern)
        if len(keep) == len(ops) and table == attrs["table"] and \
                (len(ops) > 1 or table != IDENTITY):
            continue  # repeated operands that the table treats as one, say
        stats["simplified_gates"] += 1
        stats["removed_operands"] += len(ops) - len(keep)
        became = ir.rewrite_gate(g, node, table, tuple(ops[i] for i in keep))
        if became != "gate":
            stats[f"gates_to_{became}s"] += 1
    return g, stats


@lru_cache(maxsize=65536)
def _is_simple(table: int, arity: int) -> bool:
    """Whether a gate of distinct, non-constant operands is already as simple as it gets."""
    return simplify(table, tuple(range(arity))) == (table, tuple(range(arity))) and \
        (arity > 1 or table != IDENTITY)
