"""Verilog backend: one synthesizable Verilog-2005 module per network.

    module <name>(input  wire [NUM_INPUTS-1:0]        x,
                  output wire [NUM_CLASSES*W-1:0]     scores,     // class c at scores[c*W +: W]
                  output wire [IW-1:0]                class_idx); // argmax, ties to the lowest c

W = clog2(group_size + 1) bits hold one class score, IW = max(1, clog2(num_classes)).
Every gate is one named wire (`wire g123 = x[4] & g17;`). The module is built as objects
first (`verilog_design.design`: wires that hold what they read, pipeline stages, delay
registers; a popcount compressor tree sized for LUTs and a comparator-tree argmax); this
module checks names and options and renders that design through templates/verilog.v.j2.

Combinational by default. With `pipeline=N` the datapath (logic layers, popcount counter
levels and final adder, argmax levels) is cut into stages of N levels with registered
outputs; the module then also has `clk`, `valid_in`, `valid_out` and (unless
reset="none") `rst`, active high, which clears only the valid pipeline: one sample enters
per clock and leaves `latency` clocks later.

Inputs and gates the network never reads (input bits the optimized net ignores, dead gates
at -O0) go into one `unused_ok` AND-reduction, Verilator's documented idiom, so the module
is clean under `verilator --lint-only -Wall`.
"""

from __future__ import annotations

import re

import networkx as nx

from lgn_compile import __version__
from lgn_compile.backends import model_summary, render
from lgn_compile.backends.verilog_design import (COUNTER_INPUTS, COUNTER_SIZES,  # noqa: F401
                                                 Design, index_width, pipeline_latency,
                                                 score_width)
from lgn_compile.backends.verilog_design import design as build_design
from lgn_compile.errors import LgnError

RESETS = ("sync", "async", "none")

# Verilog-2005 and SystemVerilog keywords (Verilator reads .v files as SystemVerilog), and
# `std`, the SystemVerilog built-in package.
_RESERVED = frozenset("""
    accept_on alias always always_comb always_ff always_latch and assert assign assume
    automatic before begin bind bins binsof bit break buf bufif0 bufif1 byte case casex casez
    cell chandle checker class clocking cmos config const constraint context continue cover
    covergroup coverpoint cross deassign default defparam design disable dist do edge else end
    endcase endchecker endclass endclocking endconfig endfunction endgenerate endgroup
    endinterface endmodule endpackage endprimitive endprogram endproperty endspecify
    endsequence endtable endtask enum event eventually expect export extends extern final
    first_match for force foreach forever fork forkjoin function generate genvar global
    highz0 highz1 if iff ifnone ignore_bins illegal_bins implements implies import incdir
    include initial inout input inside instance int integer interconnect interface intersect
    join join_any join_none large let liblist library local localparam logic longint
    macromodule matches medium modport module nand negedge nettype new nexttime nmos nor
    noshowcancelled not notif0 notif1 null or output package packed parameter pmos posedge
    primitive priority program property protected pull0 pull1 pulldown pullup
    pulsestyle_ondetect pulsestyle_onevent pure rand randc randcase randsequence rcmos real
    realtime ref reg reject_on release repeat restrict return rnmos rpmos rtran rtranif0
    rtranif1 s_always s_eventually s_nexttime s_until s_until_with scalared sequence shortint
    shortreal showcancelled signed small soft solve specify specparam static string strong
    strong0 strong1 struct super supply0 supply1 sync_accept_on sync_reject_on table tagged
    task this throughout time timeprecision timeunit tran tranif0 tranif1 tri tri0 tri1
    triand trior trireg type typedef union unique unique0 unsigned until until_with untyped
    use uwire var vectored virtual void wait wait_order wand weak weak0 weak1 while wildcard
    wire with within wor xnor xor
    std
""".split())
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Names of the module's own signals: Verilator rejects a module named like one of them.
_SIGNAL = re.compile(r"(x|scores|class_idx|unused_ok|clk|rst|valid_in|valid_out|valid_pipe"
                     r"|(g|x|score|out)\d+|(sub|take|idx|best)\d+_\d+"
                     r"|pc\d+_\d+_\d+_\d+(_of\d)?)(_q\d+)?\Z")
_ITEMS_PER_LINE = 8


def _chunks(items: list[str], size: int = _ITEMS_PER_LINE) -> list[str]:
    return [", ".join(items[i:i + size]) for i in range(0, len(items), size)]


def _check_module_name(name: str) -> None:
    if not _IDENTIFIER.match(name) or name in _RESERVED:
        raise LgnError(f"model name {name!r} cannot be a Verilog module name (use ASCII letters, "
                       "digits and _, not starting with a digit, and not a Verilog keyword)")
    if _SIGNAL.match(name):
        raise LgnError(f"model name {name!r} cannot be a Verilog module name: it is the name of "
                       "a signal inside the emitted module (rename the model)")


def _check_options(pipeline: int, reset: str, counter_inputs: int = COUNTER_INPUTS,
                   max_fanout: int = 0) -> None:
    if pipeline < 0:
        raise LgnError(f"--pipeline must be 0 (combinational) or a positive number of logic "
                       f"layers per stage, not {pipeline}")
    if reset not in RESETS:
        raise LgnError(f"unknown reset {reset!r} (choose from {', '.join(RESETS)})")
    if counter_inputs not in COUNTER_SIZES:
        raise LgnError(f"counters take {', '.join(map(str, COUNTER_SIZES))} inputs, not "
                       f"{counter_inputs}")
    usage = "--max-fanout must be 0 (no limit) or, with --pipeline, a positive number of " \
            "readers per register"
    if max_fanout < 0:
        raise LgnError(f"{usage}, not {max_fanout}")
    if max_fanout and not pipeline:
        raise LgnError(f"{usage}, not {max_fanout} without --pipeline")


def emit_verilog(g: nx.DiGraph, pipeline: int = 0, reset: str = "sync",
                 testbench: bool = False, feature_bits: str | None = None,
                 counter_inputs: int = COUNTER_INPUTS, max_fanout: int = 0,
                 shared_as: list[str] | None = None) -> dict[str, str]:
    """File name -> contents: `<name>.v` (pipelined when pipeline > 0); with `testbench` a
    cocotb testbench that checks it against the reference (see `testbench_files`); with
    `feature_bits` ("W" or "W.F") `<name>_features.v`, the module behind its encoder;
    `shared_as` builds verify --formal's reference (`verilog_design.head_leaves`)."""
    return build_verilog(g, pipeline, reset, testbench, feature_bits, counter_inputs,
                         max_fanout, shared_as)[0]


def build_verilog(g: nx.DiGraph, pipeline: int = 0, reset: str = "sync",
                  testbench: bool = False, feature_bits: str | None = None,
                  counter_inputs: int = COUNTER_INPUTS,
                  max_fanout: int = 0,
                  shared_as: list[str] | None = None) -> tuple[dict[str, str], Design]:
    """`emit_verilog`'s files and the `Design` they spell (ports, latency, stages).

    `counter_inputs`: bits per popcount counter, the LUT size (6; 3 for LUT4 FPGAs);
    `max_fanout`: readers per pipeline register, the inputs registered too (0: no limit)."""
    name = g.graph["name"]
    _check_module_name(name)
    _check_options(pipeline, reset, counter_inputs, max_fanout)
    design = build_design(g, pipeline, reset, counter_inputs, max_fanout, shared_as)
    source = render(
        "verilog.v.j2", s=model_summary(g), version=__version__, width=design.ports.score_width,
        idx_width=design.ports.index_width, design=design, pipeline=pipeline,
        reset=design.ports.reset, unused=_chunks(design.unused),
        valid_shift=_valid_shift(design.latency),
    )
    files = {f"{name}.v": source}
    # the encoder front end and the testbench are built beside the module, not by this renderer
    from lgn_compile.backends.testbench import testbench_files
    from lgn_compile.backends.verilog_features import feature_encoder

    if feature_bits is not None:
        files.update(feature_encoder(g, feature_bits, design.latency,
                                     reset if pipeline else "none"))
    if testbench:
        files.update(testbench_files(g, design.latency, reset if pipeline else "none"))
    return files, design


def _valid_shift(latency: int) -> str:
    """The next value of the valid shift register (bit k: valid_in delayed by k+1 clocks)."""
    return "valid_in" if latency <= 1 else f"{{valid_pipe[{latency - 2}:0], valid_in}}"


def verilog_report(design: Design, source: str, name: str, synth: bool = False) -> dict:
    """The Verilog part of report.json: the design's figures, and yosys figures if asked."""
    report = {"module": name, **design.summary()}
    if synth:
        from lgn_compile.synth import synth_report

        report["synth"] = synth_report(source, name)
    return report
