"""Dead-gate elimination: every gate or constant that cannot reach an output goes."""

from __future__ import annotations

import networkx as nx

from lgn_compile import ir


def dead_gates(g: nx.DiGraph) -> tuple[nx.DiGraph, dict]:
    """One sweep from the outputs down the ids (operands are always earlier than readers);
    liveness is a byte per node id, which a million-node sweep reads much faster than a set."""
    nodes = ir.node_attrs(g)
    live = bytearray(g.graph["next_id"])
    for node, attrs in reversed(nodes.items()):
        if attrs["kind"] == ir.OUTPUT or live[node]:
            for op in attrs.get("operands", ()):
                live[op] = 1
    dead = {kind: [n for n, attrs in nodes.items() if attrs["kind"] == kind and not live[n]]
            for kind in (ir.GATE, ir.CONST)}
    g.remove_nodes_from(dead[ir.GATE] + dead[ir.CONST])
    return g, {"removed_gates": len(dead[ir.GATE]), "removed_constants": len(dead[ir.CONST])}
