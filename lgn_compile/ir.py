"""The IR: a networkx DiGraph of inputs, constants, gates and outputs. This module owns its schema.

Node ids are ints. Node attributes:
  kind="input":  index (bit of the input vector x)
  kind="const":  value (0 or 1)
  kind="gate":   table (int truth table, DESIGN.md encoding), operands (ordered tuple of
                 node ids; edge order is not operand order), layer (for reporting)
  kind="output": index (position in the last layer), group (class), operands (1-tuple: driver)
Graph attributes: name, num_inputs, num_classes, group_size, tau, encoder (Encoder|None).

Edges run operand -> consumer, one per distinct operand. Passes and backends go through
the functions here rather than editing nodes and edges by hand, so the two never disagree.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterator

import networkx as nx

from lgn_compile.errors import LgnError
from lgn_compile.gates import MAX_ARITY, full_mask
from lgn_compile.model_file import Model

INPUT, CONST, GATE, OUTPUT = "input", "const", "gate", "output"


def new_ir(name: str, num_inputs: int, num_classes: int, group_size: int,
           tau: float = 1.0, encoder=None) -> nx.DiGraph:
    """An IR with its input nodes (ids 0..num_inputs-1) and no gates yet."""
    g = nx.DiGraph(name=name, num_inputs=num_inputs, num_classes=num_classes,
                   group_size=group_size, tau=tau, encoder=encoder, next_id=num_inputs)
    g.add_nodes_from((i, {"kind": INPUT, "index": i}) for i in range(num_inputs))
    return g


def _new_id(g: nx.DiGraph) -> int:
    node = g.graph["next_id"]
    g.graph["next_id"] = node + 1
    return node


def add_const(g: nx.DiGraph, value: int) -> int:
    node = _new_id(g)
    g.add_node(node, kind=CONST, value=int(value))
    return node


def add_gate(g: nx.DiGraph, table: int, operands: tuple[int, ...], layer: int) -> int:
    node = _new_id(g)
    g.add_node(node, kind=GATE, table=int(table), operands=tuple(operands), layer=layer)
    g.add_edges_from((op, node) for op in set(operands))
    return node


def add_output(g: nx.DiGraph, driver: int, index: int, group: int) -> int:
    node = _new_id(g)
    g.add_node(node, kind=OUTPUT, index=index, group=group, operands=(driver,))
    g.add_edge(driver, node)
    return node


def set_gate(g: nx.DiGraph, node: int, table: int, operands: tuple[int, ...]) -> None:
    """Give a gate a new function and operand list, keeping the edges in step."""
    old = set(g.nodes[node]["operands"])
    new = set(operands)
    g.remove_edges_from((op, node) for op in old - new)
    g.add_edges_from((op, node) for op in new - old)
    g.nodes[node].update(table=int(table), operands=tuple(operands))


def make_const(g: nx.DiGraph, node: int, value: int) -> None:
    """Turn a gate into a constant node in place (its consumers keep reading it)."""
    g.remove_edges_from(list(g.in_edges(node)))
    attrs = g.nodes[node]
    attrs.clear()
    attrs.update(kind=CONST, value=int(value))


def replace_uses(g: nx.DiGraph, old: int, new: int) -> None:
    """Make every consumer of `old` read `new` instead (old keeps existing until removed)."""
    for consumer in list(g.successors(old)):
        attrs = g.nodes[consumer]
        attrs["operands"] = tuple(new if op == old else op for op in attrs["operands"])
        g.remove_edge(old, consumer)
        g.add_edge(new, consumer)


def kind(g: nx.DiGraph, node: int) -> str:
    return g.nodes[node]["kind"]


def operands(g: nx.DiGraph, node: int) -> tuple[int, ...]:
    return g.nodes[node].get("operands", ())


def nodes_of_kind(g: nx.DiGraph, wanted: str) -> list[int]:
    return [n for n, k in g.nodes(data="kind") if k == wanted]


def outputs(g: nx.DiGraph) -> list[int]:
    """Output nodes ordered by index (class c owns a contiguous run of group_size)."""
    return sorted(nodes_of_kind(g, OUTPUT), key=lambda n: g.nodes[n]["index"])


def topological_gates(g: nx.DiGraph) -> Iterator[int]:
    """Gate nodes, each after all of its operands (deterministic order)."""
    for node in nx.lexicographical_topological_sort(g):
        if g.nodes[node]["kind"] == GATE:
            yield node


def levels(g: nx.DiGraph) -> dict[int, int]:
    """Logic depth of every node: inputs and constants 0, a gate 1 + its deepest operand."""
    depth = {}
    for node in nx.topological_sort(g):
        ops = operands(g, node)
        if g.nodes[node]["kind"] == GATE:
            depth[node] = 1 + max((depth[op] for op in ops), default=0)
        else:
            depth[node] = max((depth[op] for op in ops), default=0)
    return depth


def stats(g: nx.DiGraph) -> dict:
    """Gate count, inverters, depth and gates per layer: the numbers every report shows."""
    gates = nodes_of_kind(g, GATE)
    depth = levels(g)
    per_layer = Counter(g.nodes[n]["layer"] for n in gates)
    inverters = sum(1 for n in gates
                    if len(operands(g, n)) == 1 and g.nodes[n]["table"] == 0b01)
    return {
        "gates": len(gates),
        "inverters": inverters,
        "constants": len(nodes_of_kind(g, CONST)),
        "depth": max((depth[n] for n in outputs(g)), default=0),
        "per_layer": {str(layer): per_layer[layer] for layer in sorted(per_layer)},
    }


def from_model(model: Model) -> nx.DiGraph:
    """Extract the discrete gate graph of a loaded model (layer by layer, then the outputs)."""
    last_width = len(model.layers[-1].tables)
    g = new_ir(model.name, model.num_inputs, model.num_classes,
               last_width // model.num_classes, model.config.get("tau", 1.0), model.encoder)
    previous = list(range(model.num_inputs))
    for layer_index, layer in enumerate(model.layers):
        tables = layer.table_ints()
        current = []
        for gate_ops, table in zip(layer.operands.tolist(), tables):
            current.append(add_gate(g, table, tuple(previous[i] for i in gate_ops), layer_index))
        previous = current
    group_size = g.graph["group_size"]
    for index, driver in enumerate(previous):
        add_output(g, driver, index, index // group_size)
    return g


def validate(g: nx.DiGraph) -> None:
    """Raise LgnError if the graph breaks the schema (a bug in a pass, or a bad import)."""
    if not nx.is_directed_acyclic_graph(g):
        raise LgnError("IR has a cycle")
    for node, attrs in g.nodes(data=True):
        k = attrs.get("kind")
        ops = attrs.get("operands", ())
        if k not in (INPUT, CONST, GATE, OUTPUT):
            raise LgnError(f"IR node {node} has unknown kind {k!r}")
        for op in ops:
            if op not in g or g.nodes[op]["kind"] == OUTPUT:
                raise LgnError(f"IR node {node} reads missing or output node {op}")
        if set(g.predecessors(node)) != set(ops):
            raise LgnError(f"IR node {node}: edges disagree with its operands")
        if k == GATE:
            if not 1 <= len(ops) <= MAX_ARITY:
                raise LgnError(f"IR gate {node} has arity {len(ops)} (1..{MAX_ARITY} allowed)")
            if not 0 <= attrs["table"] <= full_mask(len(ops)):
                raise LgnError(f"IR gate {node}: table {attrs['table']:#x} too wide for "
                               f"arity {len(ops)}")
        if k == OUTPUT and len(ops) != 1:
            raise LgnError(f"IR output {node} must have exactly one driver")
    indices = sorted(g.nodes[n]["index"] for n in outputs(g))
    expected = g.graph["num_classes"] * g.graph["group_size"]
    if indices != list(range(expected)):
        raise LgnError(f"IR outputs must be indexed 0..{expected - 1}")
