"""The compile report a person reads: report.json's numbers as one self-contained HTML page.

`gate_types(ir)` (and `layer_gate_types(model)` for the unoptimized net) add the gate-type
histograms to report.json; `render_html(report)` draws the page from report.json alone (so
it shows exactly what the JSON holds): gates per layer before and after the passes, gate
types, logic depth, estimated LUTs, pass-by-pass counts, and for trained models accuracy
and the discretization gap. Bars are plain HTML,
so the page needs no plotting library and opens anywhere.
"""

from __future__ import annotations

from collections import Counter
from functools import cache
from pathlib import Path

import networkx as nx
import numpy as np

from lgn_compile import ir
from lgn_compile.backends import render
from lgn_compile.errors import LgnError
from lgn_compile.gates import (
    DIFFLOGIC_OP_NAMES,
    IDENTITY,
    INVERTER,
    table_to_difflogic_op,
)
from lgn_compile.model_file import Model

_ONE_INPUT = {INVERTER: "NOT", IDENTITY: "BUF", 0b00: "FALSE", 0b11: "TRUE"}


@cache
def gate_type(table: int, arity: int) -> str:
    """A readable name: the 2-input op (difflogic's names), NOT/BUF, or LUT<k>."""
    if arity == 2:
        return DIFFLOGIC_OP_NAMES[table_to_difflogic_op(table)]
    if arity == 1:
        return _ONE_INPUT[table]
    return f"LUT{arity}"


def gate_types(g: nx.DiGraph) -> dict[str, int]:
    """How many gates of each type the IR holds."""
    return dict(Counter(gate_type(attrs["table"], len(attrs["operands"]))
                        for attrs in ir.node_attrs(g).values() if attrs["kind"] == ir.GATE))


def layer_gate_types(model: Model) -> dict[str, int]:
    """gate_types of ir.from_model(model), counted on the layer arrays: the compiler
    never builds that unoptimized graph (passes.optimize_model folds before it builds)."""
    counts: Counter = Counter()
    for layer in model.layers:
        tables, how_many = np.unique(ir.table_words(layer.tables), return_counts=True)
        for table, count in zip(tables.tolist(), how_many.tolist()):
            counts[gate_type(table, layer.arity)] += count
    return dict(counts)


def html_path(report_path: str | Path) -> Path:
    """report.html beside report.json (same name, .html)."""
    path = Path(report_path).with_suffix(".html")
    if path == Path(report_path):
        raise LgnError(f"--report {report_path}: give the JSON file's name (e.g. report.json); "
                       "the HTML summary is written beside it as .html")
    return path


def hardware_rows(report: dict) -> list[tuple[str, str, object]]:
    """(key, what, value) rows of the page's hardware section, each labelled with what it covers.

    A whole-design LUT count exists only from yosys (--synth-report): it maps the logic,
    the popcount head, the argmax and the registers together. Without it the page shows
    the parts that are known exactly (the mapper's logic LUTs, the head's counters and
    comparators, the pipeline's register bits) and no total, rather than a gate count that
    reads like a LUT estimate and is off by the head and the registers.
    """
    verilog = report.get("verilog") or {}
    rows: list[tuple[str, str, object]] = []
    for flow, figures in sorted((verilog.get("synth") or {}).items()):
        if isinstance(figures, dict):
            rows += [(f"synth-{flow}-{key}", f"yosys synth_{flow}, whole design: {key}", value)
                     for key, value in sorted(figures.items()) if _number(value)]
    for k in (6, 4):
        mapped = (report.get("lut_map") or {}).get(f"lut{k}")
        if mapped:
            what = f"logic only, LUT{k} (lgn-compile's mapper; head not included)"
            rows += [(f"lut{k}-luts", what, mapped["luts"]),
                     (f"lut{k}-depth", f"logic only, LUT{k} levels", mapped["depth"])]
    head = verilog.get("head") or {}
    rows += [(f"head-{key}", f"popcount/argmax head: {key}", value)
             for key, value in sorted(head.items())]
    rows += [(f"levels-{key}", f"Verilog datapath levels: {key}", value)
             for key, value in (verilog.get("levels") or {}).items()]
    if verilog.get("clocked"):
        rows.append(("register-bits", "pipeline register bits (flip-flops)",
                     verilog.get("register_bits", 0)))
        rows += [(f"registers-{key}", f"pipeline register bits delaying {key} signals", value)
                 for key, value in (verilog.get("register_split") or {}).items()]
    pnr = report.get("pnr") or {}
    if pnr:
        where = f"{pnr.get('device')} after place and route"
        rows += [(f"pnr-{key}", f"{where}: {what}", pnr.get(key)) for key, what in _PNR_ROWS
                 if pnr.get(key) is not None]
    return rows


# report.json's `pnr` figures on the page, in reading order.
_PNR_ROWS = (("lut4", "LUT4"), ("carry", "carry cells"), ("ff", "flip-flops (design only)"),
             ("fmax_mhz", "Fmax (MHz)"), ("latency_cycles", "latency (clock cycles)"),
             ("latency_ns", "latency (ns; combinational: one clock through the wrapper)"),
             ("seed", "nextpnr placer seed"))


# The accuracies in the order a reader compares them; others follow, alphabetically.
_ACCURACY_ORDER = ("train_soft", "train_discrete", "test_soft", "test_discrete")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def accuracy_rows(accuracy: dict) -> list[tuple[str, str]]:
    """(name, value in %) per accuracy in meta, train before test, soft before discrete;
    the gap is shown once, on its own row (not here)."""
    keys = [k for k in _ACCURACY_ORDER if k in accuracy]
    keys += sorted(k for k in accuracy if k not in _ACCURACY_ORDER and k != "gap")
    return [(k.replace("_", " "), f"{100 * accuracy[k]:.2f} %" if _number(accuracy[k]) else "-")
            for k in keys]


def _bar_rows(before: dict, after: dict, keys: list[str]) -> list[dict]:
    """Rows of a two-bar chart in the order of `keys`, widths in percent of the largest."""
    top = max([*before.values(), *after.values(), 1])
    return [{"key": k, "before": before.get(k, 0), "after": after.get(k, 0),
             "before_pct": 100 * before.get(k, 0) / top, "after_pct": 100 * after.get(k, 0) / top}
            for k in keys]


def render_html(report: dict) -> str:
    """The page for one compile report (the dict written as report.json)."""
    opt = report["optimization"]
    accuracy = report["model"].get("meta", {}).get("accuracy") or {}
    gap = accuracy.get("gap")
    if gap is None and _number(accuracy.get("test_soft")) and _number(accuracy.get("test_discrete")):
        gap = accuracy["test_soft"] - accuracy["test_discrete"]
    steps = [("before passes", opt["before"])] + [
        (f"round {i}: {entry['pass']}", entry["after"])
        for i, round_log in enumerate(opt["rounds"], 1) for entry in round_log]
    layers_before, layers_after = opt["before"]["per_layer"], opt["after"]["per_layer"]
    types_before = report.get("gate_types", {}).get("before", {})
    types_after = report.get("gate_types", {}).get("after", {})
    return render("report.html.j2", report=report, opt=opt, steps=steps,
                  layer_rows=_bar_rows(layers_before, layers_after,
                                       sorted({**layers_before, **layers_after}, key=int)),
                  type_rows=_bar_rows(types_before, types_after, sorted(  # most common first
                      {**types_before, **types_after},
                      key=lambda t: (-types_after.get(t, 0), -types_before.get(t, 0), t))),
                  hardware=hardware_rows(report), accuracy=accuracy_rows(accuracy), gap=gap,
                  verilog=report.get("verilog"))
