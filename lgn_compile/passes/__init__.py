"""Optimization passes and the pipeline that runs them to a fixpoint.

A pass is `pass(ir) -> (ir, stats)`; it may edit the graph in place and must preserve the
circuit's function. The pipeline (like yosys `opt`) repeats the chosen passes until a
whole round changes nothing, and records the IR statistics after every pass.
"""

from __future__ import annotations

import networkx as nx

from lgn_compile import ir
from lgn_compile.errors import LgnError
from lgn_compile.passes.collapse import collapse
from lgn_compile.passes.const_fold import const_fold
from lgn_compile.passes.dead_gates import dead_gates
from lgn_compile.passes.not_absorb import not_absorb
from lgn_compile.passes.strash import strash

PASSES = {"const_fold": const_fold, "not_absorb": not_absorb, "strash": strash,
          "collapse": collapse, "dead_gates": dead_gates}
# dead_gates first: on big nets it shrinks the graph before the per-gate passes walk it.
PRESETS = {0: [], 1: ["dead_gates", "const_fold"],
           2: ["dead_gates", "const_fold", "not_absorb", "collapse", "strash"]}
MAX_ROUNDS = 20  # a safety net: real nets settle in 2-5 rounds


def parse_pass_list(text: str) -> list[str]:
    """'const_fold,dead_gates' -> names, with a clear error for an unknown pass."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in PASSES]
    if unknown:
        raise LgnError(f"unknown pass {unknown[0]!r} (available: {', '.join(PASSES)})")
    return names


def run_pipeline(g: nx.DiGraph, names: list[str], copy: bool = True) -> tuple[nx.DiGraph, dict]:
    """Run `names` in order, round after round, until a whole round changes nothing.

    Every count a pass reports is a number of edits, so a pass changed the IR exactly when
    one of its counts is non-zero (the statistics are only recomputed then).
    With copy=False the passes edit `g` itself (saves a whole-graph copy on big nets).
    """
    with ir.bulk_work():
        return _run_rounds(g.copy() if copy else g, names)


def _run_rounds(g: nx.DiGraph, names: list[str]) -> tuple[nx.DiGraph, dict]:
    current = ir.stats(g)
    report = {"passes": list(names), "before": current, "rounds": []}
    for _ in range(MAX_ROUNDS if names else 0):
        round_log, changed = [], False
        for name in names:
            g, pass_stats = PASSES[name](g)
            if any(pass_stats.values()):
                changed, current = True, ir.stats(g)
            round_log.append({"pass": name, **pass_stats, "after": current})
        report["rounds"].append(round_log)
        if not changed:
            break
    ir.validate(g)
    report["after"] = current
    return g, report
