"""Backends only render: each turns the optimized IR into a file through a jinja2 template.

What every backend needs from the IR is computed once here: the gates in topological
order with their bitwise expression (gates.table_expression), and the output drivers.
A backend passes `spell(node)`, how it names an input, constant or gate in its language.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Callable
from dataclasses import dataclass

import jinja2
import networkx as nx

from lgn_compile import ir
from lgn_compile.gates import table_expression

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(importlib.resources.files("lgn_compile.templates"))),
    undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
    trim_blocks=True, lstrip_blocks=True,
)


def render(template: str, **context) -> str:
    return _ENV.get_template(template).render(**context)


@dataclass
class GateLine:
    """One gate as a backend writes it: `target = expression`, from logic layer `layer`."""

    node: int
    layer: int
    expression: str


def gate_lines(g: nx.DiGraph, spell: Callable[[int], str],
               spell_const: Callable[[int], str]) -> list[GateLine]:
    """Every gate in topological order, its expression written with the backend's spelling."""
    lines = []
    nodes = ir.node_attrs(g)
    for node in ir.topological_gates(g):
        attrs = nodes[node]
        ops = attrs["operands"]
        expression = table_expression(attrs["table"], len(ops))
        if expression is None:  # constant table (only left when folding is off)
            expression = spell_const(attrs["table"] & 1)
        else:
            expression = expression.format(*(spell(op) for op in ops))
        lines.append(GateLine(node, attrs["layer"], expression))
    return lines


def output_drivers(g: nx.DiGraph, spell: Callable[[int], str]) -> list[str]:
    """The spelled driver of each output bit, by output index (groups are contiguous)."""
    nodes = ir.node_attrs(g)
    return [spell(nodes[out]["operands"][0]) for out in ir.outputs(g)]


def model_summary(g: nx.DiGraph) -> dict:
    """Numbers for the header comment of every emitted file."""
    return {"name": g.graph["name"], "num_inputs": g.graph["num_inputs"],
            "num_classes": g.graph["num_classes"], "group_size": g.graph["group_size"],
            **ir.stats(g)}
