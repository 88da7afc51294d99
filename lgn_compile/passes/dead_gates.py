"""Dead-gate elimination: every gate or constant that cannot reach an output goes."""

from __future__ import annotations

import networkx as nx

from lgn_compile import ir


def dead_gates(g: nx.DiGraph) -> tuple[nx.DiGraph, dict]:
    """One sweep from the outputs down the ids (operands are always earlier than readers)."""
    live = set()
    for node, attrs in reversed(list(g.nodes(data=True))):
        if attrs["kind"] == ir.OUTPUT or node in live:
            live.update(attrs.get("operands", ()))
    dead = [n for n, k in g.nodes(data="kind") if k in (ir.GATE, ir.CONST) and n not in live]
    removed_gates = sum(1 for n in dead if ir.kind(g, n) == ir.GATE)
    g.remove_nodes_from(dead)
    return g, {"removed_gates": removed_gates, "removed_constants": len(dead) - removed_gates}
