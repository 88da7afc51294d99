"""Graphviz DOT of a small netlist: inputs, gates (by truth table), outputs grouped by class."""

from __future__ import annotations

import networkx as nx

from lgn_compile import gates, ir
from lgn_compile.errors import LgnError

MAX_DOT_GATES = 2000  # beyond this Graphviz layouts are unreadable and slow
_NAMES = {getattr(gates, n): n for n in ("AND", "OR", "XOR", "NAND", "NOR", "XNOR")}
_NAMES.update({gates.A_AND_NOT_B: "A&~B", gates.NOT_A_AND_B: "~A&B",
               gates.B_IMPLIES_A: "A|~B", gates.A_IMPLIES_B: "~A|B"})


def _label(attrs: dict) -> str:
    arity = len(attrs["operands"])
    if arity == 1:
        return "NOT" if attrs["table"] == gates.INVERTER else "BUF"
    if arity == 2 and attrs["table"] in _NAMES:
        return _NAMES[attrs["table"]]
    return f"LUT{arity} {attrs['table']:#x}"


def export_dot(g: nx.DiGraph) -> dict[str, str]:
    count = len(ir.nodes_of_kind(g, ir.GATE))
    if count > MAX_DOT_GATES:
        raise LgnError(f"the DOT export is for small nets: {count} gates > {MAX_DOT_GATES}")
    name = g.graph["name"]
    lines = [f'digraph "{name}" {{', "  rankdir=LR;", "  node [fontname=Helvetica];"]
    for node, attrs in sorted(g.nodes(data=True)):
        kind = attrs["kind"]
        if kind == ir.INPUT:
            lines.append(f'  n{node} [label="x[{attrs["index"]}]", shape=plaintext];')
        elif kind == ir.CONST:
            lines.append(f'  n{node} [label="{attrs["value"]}", shape=square];')
        elif kind == ir.GATE:
            lines.append(f'  n{node} [label="{_label(attrs)}", shape=box];')
        else:
            lines.append(f'  n{node} [label="y[{attrs["index"]}] class {attrs["group"]}", '
                         "shape=oval];")
        for position, op in enumerate(attrs.get("operands", ())):
            edge_label = f' [label="{position}"]' if kind == ir.GATE and len(
                attrs["operands"]) > 1 else ""
            lines.append(f"  n{op} -> n{node}{edge_label};")
    lines.append("}")
    return {f"{name}.dot": "\n".join(lines) + "\n"}
