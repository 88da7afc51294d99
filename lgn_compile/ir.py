"""The IR: a networkx DiGraph of inputs, constants, gates and outputs. This module owns its schema.

Node ids are ints. Node attributes:
  kind="input":  index (bit of the input vector x)
  kind="const":  value (0 or 1)
  kind="gate":   table (int truth table, docs/DESIGN.md encoding), operands (ordered tuple of
                 node ids; edge order is not operand order), layer (for reporting)
  kind="output": index (position in the last layer), group (class), operands (1-tuple: driver)
Graph attributes: name, num_inputs, num_classes, group_size, tau, encoder (Encoder|None).

Edges run operand -> consumer, one per distinct operand. Passes and backends go through
the functions here rather than editing nodes and edges by hand, so the two never disagree.

Every operand has a smaller id than its consumer (ids are handed out in topological order
and passes only ever rewire a consumer to an earlier node), and nodes are stored in
ascending id order (added in that order, never re-added). So iterating `g.nodes` is a
topological order: no graph traversal or sort is needed for it, even at a million gates.
"""

from __future__ import annotations

import contextlib
import gc
from collections import Counter
from collections.abc import Iterator

import networkx as nx
import numpy as np

from lgn_compile.gates import IDENTITY, INVERTER, MAX_ARITY, full_mask
from lgn_compile.model_file import Model


class IRInvariantError(AssertionError):
    """The IR broke its schema: a bug in lgn-compile (see `validate`), never a user error."""


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


def rewrite_gate(g: nx.DiGraph, node: int, table: int, operands: tuple[int, ...]) -> str:
    """Give a gate a new (already simplified) function: a constant if it has no operands,
    a wire (readers take the operand) if it is a 1-input identity, else a gate.

    Returns "constant", "wire" or "gate".
    """
    if not operands:
        make_const(g, node, table & 1)
        return "constant"
    if len(operands) == 1 and table == IDENTITY:
        replace_uses(g, node, operands[0])
        g.remove_node(node)
        return "wire"
    set_gate(g, node, table, operands)
    return "gate"


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


def set_table(g: nx.DiGraph, node: int, table: int) -> None:
    """Give a gate a new truth table over the same operands (no edge changes)."""
    g._node[node]["table"] = int(table)


def table(g: nx.DiGraph, node: int) -> int:
    return g._node[node]["table"]


def kind(g: nx.DiGraph, node: int) -> str:
    return g._node[node]["kind"]  # the node's attribute dict, without NodeView's checks


def operands(g: nx.DiGraph, node: int) -> tuple[int, ...]:
    return g._node[node].get("operands", ())


def node_attrs(g: nx.DiGraph) -> dict[int, dict]:
    """Node id -> its attribute dict (the live dicts): a fast lookup for whole-graph sweeps.

    networkx's `g.nodes[n]` costs a view lookup per call; at a million gates that alone
    takes seconds. Nodes added or removed after the call are not reflected.
    """
    return dict(g.nodes(data=True))


def nodes_of_kind(g: nx.DiGraph, wanted: str) -> list[int]:
    return [n for n, attrs in g.nodes(data=True) if attrs["kind"] == wanted]


def outputs(g: nx.DiGraph) -> list[int]:
    """Output nodes ordered by index (class c owns a contiguous run of group_size)."""
    return [n for _, n in sorted((attrs["index"], n) for n, attrs in g.nodes(data=True)
                                 if attrs["kind"] == OUTPUT)]


def topological_gates(g: nx.DiGraph) -> Iterator[int]:
    """Gate nodes, each after all of its operands (ascending ids: deterministic)."""
    return iter(nodes_of_kind(g, GATE))


def levels(g: nx.DiGraph) -> dict[int, int]:
    """Logic depth of every node: inputs and constants 0, a gate 1 + its deepest operand."""
    depth: dict[int, int] = {}
    depth_of = depth.__getitem__
    for node, attrs in g.nodes(data=True):
        kind = attrs["kind"]
        if kind == GATE:
            depth[node] = 1 + max(map(depth_of, attrs["operands"]))
        else:
            depth[node] = depth_of(attrs["operands"][0]) if kind == OUTPUT else 0
    return depth


def stats(g: nx.DiGraph) -> dict:
    """Gate count, inverters, depth and gates per layer: the numbers every report shows.

    The pipeline takes them after every pass that changes something, so this is one sweep
    (levels() inlined, depths in a list indexed by node id: half the time of a dict)
    rather than a sweep per number.
    """
    depth = [0] * g.graph["next_id"]  # ids are all below next_id; inputs, constants: 0
    depth_of = depth.__getitem__
    layers, drivers, inverters, constants = [], [], 0, 0
    for node, attrs in g.nodes(data=True):
        kind = attrs["kind"]
        if kind == GATE:
            ops = attrs["operands"]
            depth[node] = 1 + max(map(depth_of, ops))
            layers.append(attrs["layer"])
            inverters += attrs["table"] == INVERTER and len(ops) == 1
        elif kind == OUTPUT:
            drivers.append(attrs["operands"][0])
        else:
            constants += kind == CONST
    per_layer = Counter(layers)
    return {
        "gates": len(layers),
        "inverters": inverters,
        "constants": constants,
        "depth": max(map(depth_of, drivers), default=0),
        "per_layer": {str(layer): per_layer[layer] for layer in sorted(per_layer)},
    }


@contextlib.contextmanager
def bulk_work():
    """Pause Python's cyclic garbage collector while millions of node dicts are made.

    Each collection walks every live container, and allocation triggers them, so building
    or rewriting a million-node graph with it on costs super-linear time. IR nodes form no
    reference cycles that need it; the collector resumes afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def from_model(model: Model) -> nx.DiGraph:
    """Extract the discrete gate graph of a loaded model (layer by layer, then the outputs)."""
    with bulk_work():
        previous, rows, first = np.arange(model.num_inputs), [], model.num_inputs
        for layer_index, layer in enumerate(model.layers):
            current = np.arange(first, first + len(layer.tables))
            rows.append((layer_index, current.tolist(), table_words(layer.tables).tolist(),
                         previous[layer.operands].tolist()))
            previous, first = current, first + len(layer.tables)
        return from_rows(model, rows, previous.tolist())


def from_rows(model: Model, rows, drivers: list[int]) -> nx.DiGraph:
    """The IR of a model from its gates given row by row (ids as from_model numbers them).

    `rows` holds (layer, ids, tables, operand lists) per layer in ascending id order; a
    row with no operands is a constant whose value is its table. `drivers[i]` is the node
    output i reads. from_model passes every gate; passes/bulk.py only the ones it keeps.
    """
    with bulk_work():
        last_width = len(model.layers[-1].tables)
        g = new_ir(model.name, model.num_inputs, model.num_classes,
                   last_width // model.num_classes, model.config.get("tau", 1.0), model.encoder)
        for layer, ids, tables, operand_ids in rows:
            _add_nodes_bulk(g, ids, tables, operand_ids, layer)
        g.graph["next_id"] = model.num_inputs + model.num_gates
        group_size = g.graph["group_size"]
        for index, driver in enumerate(drivers):
            add_output(g, driver, index, index // group_size)
        return g


def _add_nodes_bulk(g: nx.DiGraph, ids: list[int], tables: list[int],
                    operand_ids: list[list[int]], layer: int) -> None:
    """What add_gate (add_const for a row without operands) does, for a whole layer at once,
    writing networkx's adjacency dicts.

    networkx's add_node/add_edges_from cost a few microseconds per call and dominated the
    extraction of a million-gate net; this fills the same structures (`_node`, `_succ`,
    `_pred`, an edge's attribute dict shared by both) directly. The result is an ordinary
    DiGraph; validate() checks edges against operands.
    """
    node_dict, succ, pred = g._node, g._succ, g._pred
    for node, table, ops in zip(ids, tables, operand_ids):
        if ops:
            node_dict[node] = {"kind": GATE, "table": table, "operands": tuple(ops),
                               "layer": layer}
        else:
            node_dict[node] = {"kind": CONST, "value": table}
        succ[node] = {}
        readers_of = pred[node] = {}
        for op in ops:
            if op not in readers_of:
                readers_of[op] = succ[op][node] = {}


def table_words(tables: np.ndarray) -> np.ndarray:
    """uint8 [out, 2**k] 0/1 entries -> uint64 table per gate (entry j is bit j; k <= 6 fits)."""
    weights = np.left_shift(np.uint64(1), np.arange(tables.shape[1], dtype=np.uint64))
    return (np.asarray(tables).astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)


def validate(g: nx.DiGraph) -> None:
    """Raise IRInvariantError if the graph breaks the schema: every IR is built from a
    validated model file, so a broken one is a bug in a pass or a backend, not bad input
    (it gets a traceback, not a one-line user error)."""
    with bulk_work():
        _validate_nodes(g)


def _validate_nodes(g: nx.DiGraph) -> None:
    ids = list(g.nodes)
    if ids != sorted(ids):
        raise IRInvariantError("IR nodes are not stored in ascending id (topological) order")
    nodes, pred = node_attrs(g), g.pred
    for node, attrs in nodes.items():
        k = attrs.get("kind")
        ops = attrs.get("operands", ())
        if k not in (INPUT, CONST, GATE, OUTPUT):
            raise IRInvariantError(f"IR node {node} has unknown kind {k!r}")
        for op in ops:
            if op not in nodes or nodes[op]["kind"] == OUTPUT:
                raise IRInvariantError(f"IR node {node} reads missing or output node {op}")
            if op >= node:
                raise IRInvariantError(f"IR node {node} reads node {op}, which is not earlier "
                               "(a cycle, or ids out of topological order)")
        if set(pred[node]) != set(ops):
            raise IRInvariantError(f"IR node {node}: edges disagree with its operands")
        if k == GATE:
            if not 1 <= len(ops) <= MAX_ARITY:
                raise IRInvariantError(f"IR gate {node} has arity {len(ops)} (1..{MAX_ARITY} allowed)")
            if not 0 <= attrs["table"] <= full_mask(len(ops)):
                raise IRInvariantError(f"IR gate {node}: table {attrs['table']:#x} too wide for "
                               f"arity {len(ops)}")
        if k == OUTPUT and len(ops) != 1:
            raise IRInvariantError(f"IR output {node} must have exactly one driver")
    indices = sorted(g.nodes[n]["index"] for n in outputs(g))
    expected = g.graph["num_classes"] * g.graph["group_size"]
    if indices != list(range(expected)):
        raise IRInvariantError(f"IR outputs must be indexed 0..{expected - 1}")
