"""Structural hashing (common-subexpression elimination).

Each gate's operands are put in a canonical order (ascending node id, the table permuted
to match), so gates computing the same table of the same signals get the same key
(table, operands); in topological order every later gate with a key already seen is
replaced by the first one. Readers come after their operands, so merges cascade in one sweep.
A gate computing the complement of an earlier one becomes an inverter of it, which
not_absorb then folds into its readers.
"""

from __future__ import annotations

import networkx as nx

from lgn_compile import ir
from lgn_compile.gates import INVERTER, full_mask, permute_operands


def strash(g: nx.DiGraph) -> tuple[nx.DiGraph, dict]:
    stats = {"reordered_gates": 0, "merged_gates": 0, "complements_to_inverters": 0}
    first_with_key: dict[tuple, int] = {}
    nodes = ir.node_attrs(g)
    for node in ir.topological_gates(g):
        attrs = nodes[node]
        ops = attrs["operands"]
        if any(ops[i] > ops[i + 1] for i in range(len(ops) - 1)):
            order = tuple(sorted(range(len(ops)), key=ops.__getitem__))
            ops = tuple(ops[i] for i in order)
            ir.set_gate(g, node, permute_operands(attrs["table"], len(ops), order), ops)
            stats["reordered_gates"] += 1
        key = (attrs["table"], ops)
        existing = first_with_key.setdefault(key, node)
        complement = first_with_key.get((attrs["table"] ^ full_mask(len(ops)), ops))
        if existing != node:
            ir.replace_uses(g, node, existing)
            g.remove_node(node)
            stats["merged_gates"] += 1
        elif complement is not None and len(ops) > 1:
            ir.set_gate(g, node, INVERTER, (complement,))
            stats["complements_to_inverters"] += 1
    return g, stats
