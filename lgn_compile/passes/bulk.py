"""Bulk fold: the joint fixpoint of const_fold and dead_gates, reached on the model's layer
arrays before the networkx graph exists.

A random million-gate net loses most of its gates to those two passes (constant and
pass-through tables, then everything that feeds nothing an output needs). Building
networkx nodes for them only to delete them again cost most of the compile time, so the
compiler folds first and builds only what survives. numpy does the per-gate work:
operands are resolved through earlier wires, each gate's operand pattern (which operands
are constant, which repeat) is classified, and liveness is walked back from the outputs
one layer at a time. The table arithmetic stays gates.simplify, called once per distinct
(table, pattern) pair. The graph is node for node the one run_pipeline reaches with
dead_gates and const_fold from ir.from_model (the tests compare them), so the other
passes carry on from exactly that point.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from lgn_compile import ir
from lgn_compile.gates import CONST_OPERANDS, IDENTITY, simplify
from lgn_compile.model_file import Model

ITEM_BITS = 3  # a pattern item: a label 0..MAX_ARITY-1 or a constant, 6 ("0") or 7 ("1")
CONST_ITEM = 6


@dataclass
class FoldedLayer:
    """One layer after folding: gate i (node ids[i]) computes tables[i] over operands
    [i, :arity[i]] (the rest is -1); arity 0 means a constant, whose value is its table."""

    ids: np.ndarray
    tables: np.ndarray
    operands: np.ndarray
    arity: np.ndarray


def bulk_fold(model: Model) -> tuple[nx.DiGraph, dict]:
    """The IR of `model` after const_fold and dead_gates reach their fixpoint, and its stats."""
    with ir.bulk_work():
        layers, source, value = _fold_forward(model)
        drivers = source[layers[-1].ids]
        live = _live(layers, drivers, len(source))
        rows = [(index, *_rows(layer, live[layer.ids])) for index, layer in enumerate(layers)]
        graph = ir.from_rows(model, rows, drivers.tolist())
    kept_gates = sum(len(ids) for _, ids, _, _ in rows) - int((live & (value >= 0)).sum())
    return graph, {
        "gates_to_constants": int((value >= 0).sum()),
        "gates_to_wires": int((source != np.arange(len(source))).sum()),
        "removed_operands": sum(int((layer.operands.shape[1] - layer.arity).sum())
                                for layer in layers),
        "removed_gates": model.num_gates - kept_gates,
    }


def _fold_forward(model: Model) -> tuple[list[FoldedLayer], np.ndarray, np.ndarray]:
    """const_fold's sweep, a layer at a time: the folded layers, and per node id the node a
    reader of it reads (itself, or a wire's driver) and its constant value (-1: none)."""
    size = model.num_inputs + model.num_gates
    source = np.arange(size)
    value = np.full(size, -1, dtype=np.int8)
    previous, layers, first = np.arange(model.num_inputs), [], model.num_inputs
    for layer in model.layers:
        ids = np.arange(first, first + len(layer.tables))
        folded = _fold_layer(ids, source[previous[layer.operands]],
                             ir.table_words(layer.tables), value)
        wires = (folded.arity == 1) & (folded.tables == IDENTITY)
        source[ids[wires]] = folded.operands[wires, 0]
        constants = folded.arity == 0
        value[ids[constants]] = folded.tables[constants]
        layers.append(folded)
        previous, first = ids, first + len(ids)
    return layers, source, value


def _fold_layer(ids: np.ndarray, operands: np.ndarray, tables: np.ndarray,
                value: np.ndarray) -> FoldedLayer:
    """gates.simplify of every gate of a layer (operands already resolved through wires)."""
    arity = operands.shape[1]
    patterns = _pattern_codes(operands, value[operands])
    keys, inverse = np.unique(np.stack([tables, patterns.astype(np.uint64)], axis=1),
                              axis=0, return_inverse=True)
    new_tables = np.zeros(len(keys), dtype=np.uint64)
    positions = np.full((len(keys), arity), -1, dtype=np.int64)
    for key, (table, code) in enumerate(keys.tolist()):
        new_tables[key], keep = simplify(table, _pattern(code, arity))
        positions[key, :len(keep)] = keep
    positions = positions[inverse.reshape(-1)]
    kept = np.take_along_axis(operands, np.maximum(positions, 0), axis=1)
    return FoldedLayer(ids, new_tables[inverse.reshape(-1)], np.where(positions >= 0, kept, -1),
                       (positions >= 0).sum(axis=1))


def _pattern_codes(operands: np.ndarray, constants: np.ndarray) -> np.ndarray:
    """Each gate's operand pattern as one int: per operand ITEM_BITS bits holding its
    constant item, or the label of its signal (signals numbered by first appearance),
    which is the shape gates.simplify derives from a pattern."""
    count, arity = operands.shape
    labels = np.zeros((count, arity), dtype=np.int64)
    next_label = np.zeros(count, dtype=np.int64)
    code = np.zeros(count, dtype=np.int64)
    is_signal = constants < 0
    for i in range(arity):
        label, found = next_label.copy(), np.zeros(count, dtype=bool)
        for j in range(i):
            same = ~found & is_signal[:, j] & (operands[:, j] == operands[:, i])
            label[same] = labels[same, j]
            found |= same
        labels[:, i] = np.where(is_signal[:, i], label, CONST_ITEM + constants[:, i])
        next_label += is_signal[:, i] & ~found
        code |= labels[:, i] << (ITEM_BITS * i)
    return code


def _pattern(code: int, arity: int) -> tuple:
    """The gates.simplify pattern a code stands for (labels, "0", "1")."""
    items = [(code >> (ITEM_BITS * i)) & ((1 << ITEM_BITS) - 1) for i in range(arity)]
    return tuple(CONST_OPERANDS[item - CONST_ITEM] if item >= CONST_ITEM else item
                 for item in items)


def _live(layers: list[FoldedLayer], drivers: np.ndarray, size: int) -> np.ndarray:
    """Nodes an output depends on: operands are always in earlier layers, so one sweep
    from the last layer down sees every reader of a layer before the layer itself."""
    live = np.zeros(size, dtype=bool)
    live[drivers] = True
    for layer in reversed(layers):
        operands = layer.operands[live[layer.ids]]
        live[operands[operands >= 0]] = True
    return live


def _rows(layer: FoldedLayer, keep: np.ndarray) -> tuple[list, list, list]:
    """ids, tables and operand lists of the nodes kept (wires are never live: readers
    read their drivers), in the form ir.from_rows takes."""
    arity = layer.arity[keep].tolist()
    operands = [ops[:n] for ops, n in zip(layer.operands[keep].tolist(), arity)]
    return layer.ids[keep].tolist(), layer.tables[keep].tolist(), operands


def layer_stats(model: Model) -> dict:
    """ir.stats of ir.from_model(model), read off the layer arrays (no graph needed):
    every gate of layer l sits at depth l + 1."""
    inverters = sum(int((ir.table_words(layer.tables) == 1).sum())
                    for layer in model.layers if layer.arity == 1)
    return {"gates": model.num_gates, "inverters": inverters, "constants": 0,
            "depth": len(model.layers),
            "per_layer": {str(i): len(layer.tables) for i, layer in enumerate(model.layers)}}
