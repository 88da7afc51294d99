"""BLIF: one `.names` cover per gate (its on-set minterms), read by yosys and ABC."""

from __future__ import annotations

import networkx as nx

from lgn_compile import ir


def signal_name(g: nx.DiGraph, node: int) -> str:
    """How the netlist exports name a node: x[i] for inputs, c<id> for constants, g<id> for gates."""
    attrs = g.nodes[node]
    if attrs["kind"] == ir.INPUT:
        return f"x[{attrs['index']}]"
    return f"c{node}" if attrs["kind"] == ir.CONST else f"g{node}"


def export_blif(g: nx.DiGraph) -> dict[str, str]:
    name = g.graph["name"]
    outputs = ir.outputs(g)
    lines = [f"# {name}: netlist exported by lgn-compile (outputs y[j]; class = j // "
             f"{g.graph['group_size']})",
             f".model {name}",
             ".inputs " + " ".join(f"x[{i}]" for i in range(g.graph["num_inputs"])),
             ".outputs " + " ".join(f"y[{g.nodes[o]['index']}]" for o in outputs)]
    for node in ir.nodes_of_kind(g, ir.CONST):
        lines += [f".names c{node}"] + (["1"] if g.nodes[node]["value"] else [])
    for node in ir.topological_gates(g):
        attrs = g.nodes[node]
        arity = len(attrs["operands"])
        # A constant-0 gate is written without its (ignored) operands: an empty cover over
        # inputs means 0 in BLIF, but yosys reads it as x, which ABC may then set freely.
        operands = attrs["operands"] if attrs["table"] else ()
        lines.append(" ".join([".names", *(signal_name(g, op) for op in operands), f"g{node}"]))
        lines += ["".join(str((j >> i) & 1) for i in range(arity)) + " 1"
                  for j in range(1 << arity) if (attrs["table"] >> j) & 1]
    for out in outputs:
        driver = signal_name(g, ir.operands(g, out)[0])
        lines += [f".names {driver} y[{g.nodes[out]['index']}]", "1 1"]
    lines.append(".end")
    return {f"{name}.blif": "\n".join(lines) + "\n"}
