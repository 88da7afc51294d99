"""The in-process reference: evaluate the IR bit-parallel over a batch with numpy.

Gates are grouped by logic level and arity so each group is a handful of vectorized
numpy operations (a sum of minterms over the truth-table bits), whatever the gate count.
"""

from __future__ import annotations

from collections import defaultdict

import networkx as nx
import numpy as np

from lgn_compile import ir
from lgn_compile.bitpack import group_popcounts, pack_bits, unpack_bits

ALL_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)


def evaluate_packed(g: nx.DiGraph, planes: np.ndarray) -> np.ndarray:
    """Input planes uint64 [num_inputs, W] -> output planes uint64 [num_outputs, W]."""
    num_inputs, num_words = planes.shape
    if num_inputs != g.graph["num_inputs"]:
        raise ValueError(f"expected {g.graph['num_inputs']} input planes, got {num_inputs}")
    row = {node: i for i, node in enumerate(g.nodes)}
    values = np.zeros((len(row), num_words), dtype=np.uint64)
    groups = defaultdict(list)  # (level, arity) -> gates
    level = ir.levels(g)
    for node, attrs in g.nodes(data=True):
        kind = attrs["kind"]
        if kind == ir.INPUT:
            values[row[node]] = planes[attrs["index"]]
        elif kind == ir.CONST:
            values[row[node]] = ALL_ONES if attrs["value"] else 0
        elif kind == ir.GATE:
            groups[level[node], len(attrs["operands"])].append(node)
    for (_, arity), gates in sorted(groups.items()):
        operand_rows = np.array([[row[op] for op in g.nodes[n]["operands"]] for n in gates])
        tables = [g.nodes[n]["table"] for n in gates]
        values[[row[n] for n in gates]] = _eval_tables(values, operand_rows, tables, arity)
    drivers = [row[ir.operands(g, n)[0]] for n in ir.outputs(g)]
    return values[drivers]


def _eval_tables(values, operand_rows, tables, arity) -> np.ndarray:
    """OR over the minterms j whose table bit is set of AND_i (x_i or ~x_i)."""
    operand_values = values[operand_rows]  # [G, arity, W]
    result = np.zeros((len(tables), values.shape[1]), dtype=np.uint64)
    tables = np.array(tables, dtype=np.uint64)  # arity <= 6: a table fits 64 bits
    for j in range(1 << arity):
        selected = ((tables >> np.uint64(j)) & np.uint64(1)).astype(bool)
        if not selected.any():
            continue
        term = np.repeat(np.where(selected, ALL_ONES, np.uint64(0))[:, None], values.shape[1], 1)
        for i in range(arity):
            literal = operand_values[:, i]
            term &= literal if (j >> i) & 1 else ~literal
        result |= term
    return result


def output_bits(g: nx.DiGraph, bits: np.ndarray) -> np.ndarray:
    """Input bits [N, num_inputs] -> output bits [N, num_outputs] (uint8)."""
    return unpack_bits(evaluate_packed(g, pack_bits(bits)), len(bits))


def scores(g: nx.DiGraph, bits: np.ndarray) -> np.ndarray:
    """Input bits [N, num_inputs] -> class scores (group popcounts) int64 [N, num_classes]."""
    return group_popcounts(output_bits(g, bits), g.graph["num_classes"])
