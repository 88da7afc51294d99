"""Optimization passes and the pipeline that runs them to a fixpoint.

A pass is `pass(ir) -> (ir, stats)`; it may edit the graph in place and must preserve the
circuit's function. The pipeline (like yosys `opt`) repeats the chosen passes until a
whole round changes nothing, and records the IR statistics after every pass.
`optimize_model` is what the compiler runs: the model's graph (bulk_fold's, when it
applies), then the pipeline.
"""

from __future__ import annotations

import networkx as nx

from lgn_compile import ir
from lgn_compile.errors import LgnError
from lgn_compile.model_file import Model
from lgn_compile.passes.abc import abc
from lgn_compile.passes.bulk import bulk_fold, layer_stats
from lgn_compile.passes.collapse import collapse
from lgn_compile.passes.const_fold import const_fold
from lgn_compile.passes.dead_gates import dead_gates
from lgn_compile.passes.not_absorb import not_absorb
from lgn_compile.passes.strash import strash

PASSES = {"const_fold": const_fold, "not_absorb": not_absorb, "strash": strash,
          "collapse": collapse, "dead_gates": dead_gates,
          "abc": abc}  # yosys + ABC round trip: optional, in no preset
# dead_gates first: on big nets it shrinks the graph before the per-gate passes walk it.
PRESETS = {0: [], 1: ["dead_gates", "const_fold"],
           2: ["dead_gates", "const_fold", "not_absorb", "collapse", "strash"]}
MAX_ROUNDS = 20  # a safety net: real nets settle in 2-5 rounds


def pass_help(name: str) -> str:
    """A pass's one-line help: the first line of its module's docstring (it lives with the pass)."""
    import sys

    doc = sys.modules[PASSES[name].__module__].__doc__ or ""
    return doc.strip().splitlines()[0].rstrip(".") if doc.strip() else name


def preset_help() -> str:
    """`0 = none, 1 = a,b, 2 = a,b,c,...`, from PRESETS."""
    return ", ".join(f"{level} = {','.join(names) or 'none'}" for level, names in PRESETS.items())


def parse_pass_list(text: str) -> list[str]:
    """'const_fold,dead_gates' -> names, with a clear error for an unknown pass."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in PASSES]
    if unknown:
        raise LgnError(f"unknown pass {unknown[0]!r} (available: {', '.join(PASSES)})")
    return names


def optimize_model(model: Model, names: list[str]) -> tuple[nx.DiGraph, dict]:
    """The model's IR after the pipeline `names`, and its report: what the compiler runs."""
    graph, bulk_stats = initial_ir(model, names)
    optimized, report = run_pipeline(graph, names, copy=False)
    if bulk_stats is None:
        return optimized, report
    return optimized, {**report, "before": layer_stats(model),
                       "bulk_fold": {**bulk_stats, "after": report["before"]}}


def initial_ir(model: Model, names: list[str]) -> tuple[nx.DiGraph, dict | None]:
    """The IR the pipeline `names` starts from, and bulk_fold's stats if it ran.

    When the pipeline has dead_gates and const_fold, bulk_fold reaches their joint fixpoint
    on the model's arrays and builds the graph only from what survives (most of a random
    net does not); otherwise the graph is the model's translation, ir.from_model.
    """
    if {"dead_gates", "const_fold"} <= set(names):
        return bulk_fold(model)
    return ir.from_model(model), None


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
    settled: dict[str, dict] = {}  # pass -> its all-zero stats, while the IR is unchanged since
    for _ in range(MAX_ROUNDS if names else 0):
        round_log, changed = [], False
        for name in names:
            pass_stats = settled.get(name)
            if pass_stats is None:  # a pass is a function of the IR: one that found nothing
                g, pass_stats = PASSES[name](g)  # to do on this IR would find nothing again
            if any(pass_stats.values()):
                changed, current = True, ir.stats(g)
                settled.clear()
            else:
                settled[name] = pass_stats
            round_log.append({"pass": name, **pass_stats, "after": current})
        report["rounds"].append(round_log)
        if not changed:
            break
    ir.validate(g)
    report["after"] = current
    return g, report
