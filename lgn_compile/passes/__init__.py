"""Optimization passes and the pipeline that runs them to a fixpoint.

A pass is `pass(ir) -> (ir, stats)`; it may edit the graph in place and must preserve the
circuit's function. The pipeline (like yosys `opt`) repeats the chosen passes until a
whole round changes nothing, and records the IR statistics after every pass.
"""

from __future__ import annotations

import networkx as nx

from lgn_compile import ir
from lgn_compile.errors import LgnError
from lgn_compile.passes.const_fold import const_fold
from lgn_compile.passes.dead_gates import dead_gates

PASSES = {"const_fold": const_fold, "dead_gates": dead_gates}
PRESETS = {0: [], 1: ["const_fold", "dead_gates"], 2: ["const_fold", "dead_gates"]}
MAX_ROUNDS = 20


def parse_pass_list(text: str) -> list[str]:
    """'const_fold,dead_gates' -> names, with a clear error for an unknown pass."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in PASSES]
    if unknown:
        raise LgnError(f"unknown pass {unknown[0]!r} (available: {', '.join(PASSES)})")
    return names


def run_pipeline(g: nx.DiGraph, names: list[str]) -> tuple[nx.DiGraph, dict]:
    """Run `names` in order, round after round, until the IR stops changing."""
    g = g.copy()
    report = {"passes": list(names), "before": ir.stats(g), "rounds": []}
    for _ in range(MAX_ROUNDS if names else 0):
        round_log, changed = [], False
        for name in names:
            before = _signature(g)
            g, pass_stats = PASSES[name](g)
            changed |= _signature(g) != before
            round_log.append({"pass": name, **pass_stats, "after": ir.stats(g)})
        report["rounds"].append(round_log)
        if not changed:
            break
    ir.validate(g)
    report["after"] = ir.stats(g)
    return g, report


def _signature(g: nx.DiGraph) -> tuple:
    """Cheap change detector: node and edge counts plus the sum of gate tables and arities."""
    gates = [a for _, a in g.nodes(data=True) if a["kind"] == ir.GATE]
    return (g.number_of_nodes(), g.number_of_edges(),
            sum(a["table"] for a in gates), sum(len(a["operands"]) for a in gates))
