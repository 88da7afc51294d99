"""NOT absorption: inverters disappear into the truth tables around them.

For an inverter `i = ~d`:
  - if only gates read `i`, each reader reads `d` with that operand negated in its table;
  - if an output reads `i` (its popcount needs the inverted bit) and `d` is a gate that
    drives no output itself, `d` takes the complemented table (so it now computes `i`),
    every reader of `i` reads `d`, and `d`'s other readers get that operand negated;
  - otherwise (an inverted input bit, or a gate that is an output both ways) it stays.
The inverter is left without readers for dead_gates to collect.
"""

from __future__ import annotations

import networkx as nx

from lgn_compile import ir
from lgn_compile.gates import INVERTER, full_mask, negate_operand


def not_absorb(g: nx.DiGraph) -> tuple[nx.DiGraph, dict]:
    stats = {"into_readers": 0, "into_drivers": 0}
    nodes = ir.node_attrs(g)
    for inverter in ir.topological_gates(g):
        attrs = nodes[inverter]
        if len(attrs["operands"]) != 1 or attrs["table"] != INVERTER:
            continue
        driver = attrs["operands"][0]
        readers = list(g.successors(inverter))
        if not readers:
            continue
        if all(nodes[r]["kind"] == ir.GATE for r in readers):
            for reader in readers:
                _negate_reads(g, reader, inverter)
            ir.replace_uses(g, inverter, driver)
            stats["into_readers"] += 1
        elif nodes[driver]["kind"] == ir.GATE and \
                all(nodes[r]["kind"] == ir.GATE for r in g.successors(driver)):
            ir.set_table(g, driver, ir.table(g, driver) ^ full_mask(len(ir.operands(g, driver))))
            for reader in list(g.successors(driver)):
                if reader != inverter:
                    _negate_reads(g, reader, driver)
            ir.replace_uses(g, inverter, driver)
            stats["into_drivers"] += 1
    return g, stats


def _negate_reads(g: nx.DiGraph, reader: int, signal: int) -> None:
    """`reader` now gets the complement of `signal` wherever it reads it: fix its table."""
    table, ops = ir.table(g, reader), ir.operands(g, reader)
    for position, op in enumerate(ops):
        if op == signal:
            table = negate_operand(table, len(ops), position)
    ir.set_table(g, reader, table)
