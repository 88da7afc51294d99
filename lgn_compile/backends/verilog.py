"""Verilog backend: one synthesizable Verilog-2005 module per network.

    module <name>(input  wire [NUM_INPUTS-1:0]        x,
                  output wire [NUM_CLASSES*W-1:0]     scores,     // class c at scores[c*W +: W]
                  output wire [IW-1:0]                class_idx); // argmax, ties to the lowest c

W = clog2(group_size + 1) bits hold one class score, IW = max(1, clog2(num_classes)).
Every gate is one named wire (`wire g123 = x[4] & g17;`). The renderer computes the
structure the template writes out: per class a balanced adder tree over the group's
output bits (explicitly sized partial sums, zero-extended operands, so the netlist is the
same under every tool), and the argmax as a balanced tournament of strict `>` comparisons
(the left, lower-indexed side wins ties, so ties go to the lowest class index).

Combinational by default. With `pipeline=N` the datapath is cut into stages: the logic
layers, then the adder-tree levels, then the argmax levels, N levels per stage, with a
register stage after each (so the outputs are registered). A signal read K stages after
the one that computes it is read through K registers named `<signal>_q1 .. _qK` (the
signal delayed by K clocks). The module then also has `clk`, `valid_in`, `valid_out` and
(unless reset="none") `rst`, active high, which clears only the valid pipeline: one sample
enters per clock and leaves `latency` clocks later.

Inputs and gates the network never reads (input bits the optimized net ignores, dead gates
at -O0) go into one `unused_ok` AND-reduction, Verilator's documented idiom, so the module
is clean under `verilator --lint-only -Wall`.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
from dataclasses import dataclass, field
from itertools import groupby

import networkx as nx
import numpy as np

from lgn_compile import __version__, evaluate, ir
from lgn_compile.backends import gate_lines, model_summary, output_drivers, render
from lgn_compile.errors import LgnError
from lgn_compile.random_net import random_input_bits
from lgn_compile.verify.simulate import Ports, parse_ports, stimulus

RESETS = ("sync", "async", "none")
TESTBENCH_RUNNER = "run_tb.py"
TESTBENCH_SEED, TESTBENCH_VECTORS = 0, 256
# valid_in of the pipelined testbench: a back-to-back burst, then gaps of 1 to 3 cycles
TESTBENCH_VALID = [1] * 32 + [0, 1, 1, 0, 0, 1, 0, 0, 0, 1]

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
                     r"|(g|x|score)\d+|(take|idx|best)\d+_\d+|c\d+_s\d+_\d+)(_q\d+)?\Z")
# A signal read in an expression: an input bit x[i] or a name (not the digits of 4'd3).
_READ_TOKEN = re.compile(r"(?<![\w'])(?:x\[(\d+)\]|([A-Za-z_]\w*))")
_ITEMS_PER_LINE = 8


@dataclass
class Wire:
    """One `wire [width-1:0] name = expression;` line; `level` orders the head for pipelining."""

    name: str
    width: int
    expression: str
    level: int = 0

    @property
    def range(self) -> str:
        return _range(self.width)


@dataclass
class Block:
    """Wires under one comment: a logic layer, a class's adder tree, or the argmax."""

    title: str
    wires: list[Wire] = field(default_factory=list)
    constant_compares: bool = False  # argmax: comparisons may be constant without folding


@dataclass
class Stage:
    blocks: list[Block] = field(default_factory=list)
    registers: list[Wire] = field(default_factory=list)  # `name <= expression` at its end


@dataclass
class Design:
    """What the template writes: the stages, the output assignments and the pipeline latency."""

    stages: list[Stage]
    scores: list[tuple[str, str]]  # (bit range, source) per class
    class_idx: str
    latency: int
    unused: list[str]


def _range(width: int) -> str:
    return "" if width == 1 else f"[{width - 1}:0] "


def score_width(group_size: int) -> int:
    """Bits of one class score: clog2(group_size + 1), at least 1."""
    return max(1, group_size.bit_length())


def index_width(num_classes: int) -> int:
    """Bits of class_idx: clog2(num_classes), at least 1."""
    return max(1, (num_classes - 1).bit_length())


def _spell(nodes: dict[int, dict], node: int) -> str:
    """How the module names a node (`nodes`: ir.node_attrs of the graph)."""
    attrs = nodes[node]
    if attrs["kind"] == ir.INPUT:
        return f"x[{attrs['index']}]"
    if attrs["kind"] == ir.CONST:
        return _spell_const(attrs["value"])
    return f"g{node}"


def _spell_const(value: int) -> str:
    return "1'b1" if value else "1'b0"


def _zero_extend(name: str, from_width: int, to_width: int) -> str:
    pad = to_width - from_width
    return name if pad == 0 else f"{{{pad}'d0, {name}}}"


def adder_tree(cls: int, leaves: list[str]) -> tuple[list[Wire], str]:
    """A balanced tree of explicitly sized adders over 1-bit `leaves`: (wires, root name).

    Each level adds neighbouring partial sums pairwise; a sum is exactly as wide as its
    largest possible value needs, and both operands are zero-extended to that width (an
    odd one out moves up a level unchanged). The root is named `score<cls>`.
    """
    level = [(leaf, 1) for leaf in leaves]  # (name, largest value)
    wires: list[Wire] = []
    depth = 0
    while len(level) > 1:
        depth += 1
        merged = []
        for i in range(0, len(level) - 1, 2):
            (a, max_a), (b, max_b) = level[i], level[i + 1]
            total = max_a + max_b
            width = total.bit_length()
            name = f"score{cls}" if len(level) == 2 else f"c{cls}_s{depth}_{i // 2}"
            expression = (f"{_zero_extend(a, max_a.bit_length(), width)} + "
                          f"{_zero_extend(b, max_b.bit_length(), width)}")
            wires.append(Wire(name, width, expression, depth))
            merged.append((name, total))
        if len(level) % 2:
            merged.append(level[-1])
        level = merged
    root = level[0][0]
    if root != f"score{cls}":  # a one-bit group: the score is the output bit itself
        wires.append(Wire(f"score{cls}", 1, root))
    return wires, f"score{cls}"


def argmax_tree(num_classes: int, width: int, idx_width: int) -> tuple[list[Wire], str]:
    """A balanced tournament over (score, index) pairs: (wires, expression of class_idx).

    Neighbours meet pairwise at each level; the right (higher-indexed) side wins only with
    a strictly greater score, so ties go to the lowest class index, as torch.argmax. The
    winning score of the final match is never read, so it is not built.
    """
    level = [(f"score{cls}", f"{idx_width}'d{cls}") for cls in range(num_classes)]
    wires: list[Wire] = []
    depth = 0
    while len(level) > 1:
        depth += 1
        merged = []
        for i in range(0, len(level) - 1, 2):
            (left_score, left_idx), (right_score, right_idx) = level[i], level[i + 1]
            take, idx, best = (f"{kind}{depth}_{i // 2}" for kind in ("take", "idx", "best"))
            wires.append(Wire(take, 1, f"{right_score} > {left_score}", depth))
            wires.append(Wire(idx, idx_width, f"{take} ? {right_idx} : {left_idx}", depth))
            if len(level) > 2:
                wires.append(Wire(best, width, f"{take} ? {right_score} : {left_score}", depth))
            merged.append((best, idx))
        if len(level) % 2:
            merged.append(level[-1])
        level = merged
    return wires, level[0][1]


def pipeline_latency(num_levels: int, pipeline: int) -> int:
    """Clock cycles from valid_in to valid_out: one register stage per `pipeline` levels."""
    return max(1, -(-num_levels // pipeline)) if pipeline else 0


class _Stager:
    """Places signals in pipeline stages and reads earlier stages through delay registers."""

    def __init__(self, pipeline: int, num_inputs: int):
        self.pipeline = pipeline
        self.stage_of = {f"x[{i}]": 0 for i in range(num_inputs)}
        self.width_of = {f"x[{i}]": 1 for i in range(num_inputs)}
        self.delays: dict[str, int] = {}  # signal -> most clocks any reader needs it delayed

    def level_stage(self, level: int) -> int:
        """The stage of datapath level `level` (0-based: logic layers, adder, argmax levels)."""
        return level // self.pipeline if self.pipeline else 0

    def place(self, expression: str, earliest: int) -> tuple[int, str]:
        """(stage, expression with its reads renamed): no earlier than `earliest` nor its reads."""
        if not self.pipeline:  # combinational: one stage, nothing to delay or rename
            return 0, expression
        reads = [x or name for x, name in _READ_TOKEN.findall(expression)]
        stage = max([earliest, 0] + [self.stage_of[r] for r in reads if r in self.stage_of])
        return stage, self.rename(expression, stage)

    def rename(self, expression: str, stage: int) -> str:
        def delayed(match: re.Match) -> str:
            signal = f"x[{match[1]}]" if match[1] is not None else match[2]
            clocks = stage - self.stage_of.get(signal, stage)
            if clocks <= 0:
                return match[0]
            self.delays[signal] = max(self.delays.get(signal, 0), clocks)
            return _delayed(signal, clocks)
        return _READ_TOKEN.sub(delayed, expression)

    def add(self, wire: Wire, stage: int) -> None:
        self.stage_of[wire.name] = stage
        self.width_of[wire.name] = wire.width

    def registers(self) -> dict[int, list[Wire]]:
        """Stage -> the delay registers loaded at its end, `<signal>_qK <= <signal>_q(K-1)`."""
        out: dict[int, list[Wire]] = {}
        for signal, clocks in self.delays.items():
            for k in range(1, clocks + 1):
                out.setdefault(self.stage_of[signal] + k - 1, []).append(Wire(
                    _delayed(signal, k), self.width_of[signal], _delayed(signal, k - 1)))
        return out


def _delayed(signal: str, clocks: int) -> str:
    """The name of `signal` delayed by `clocks` register stages (x[3] -> x3_q2)."""
    if clocks == 0:
        return signal
    return f"{signal.replace('[', '').replace(']', '')}_q{clocks}"


def layout(g: nx.DiGraph, pipeline: int = 0) -> Design:
    """The module's wires in pipeline stages (one stage when combinational)."""
    num_classes, group_size = g.graph["num_classes"], g.graph["group_size"]
    width, idx_width = score_width(group_size), index_width(num_classes)
    spell = functools.partial(_spell, ir.node_attrs(g))
    lines = gate_lines(g, spell, _spell_const)
    drivers = output_drivers(g, spell)
    trees = [adder_tree(cls, drivers[cls * group_size:(cls + 1) * group_size])[0]
             for cls in range(num_classes)]
    argmax, class_idx = argmax_tree(num_classes, width, idx_width)
    num_layers = max((line.layer for line in lines), default=-1) + 1
    adder_depth = max(wire.level for tree in trees for wire in tree)
    num_levels = num_layers + adder_depth + max((wire.level for wire in argmax), default=0)
    latency = pipeline_latency(num_levels, pipeline)

    stager = _Stager(pipeline, g.graph["num_inputs"])
    blocks: dict[tuple[int, str], Block] = {}

    def place(wire: Wire, level: int, title: str, constant_compares: bool = False) -> None:
        stage, expression = stager.place(wire.expression, stager.level_stage(level))
        placed = Wire(wire.name, wire.width, expression, wire.level)
        stager.add(placed, stage)
        blocks.setdefault((stage, title), Block(title, [], constant_compares)).wires.append(placed)

    for layer, run in groupby(lines, key=lambda line: line.layer):
        run = list(run)
        title = f"logic layer {layer}: {len(run)} gate{'s' if len(run) != 1 else ''}"
        for line in run:
            place(Wire(f"g{line.node}", 1, line.expression), layer, title)
    for cls, tree in enumerate(trees):
        first = cls * group_size
        title = (f"class {cls}: popcount of output bits {first}..{first + group_size - 1} "
                 "(balanced adder tree)")
        for wire in tree:
            place(wire, num_layers + max(wire.level, 1) - 1, title)
    for wire in argmax:
        place(wire, num_layers + adder_depth + wire.level - 1,
              "argmax: balanced tournament, strict > keeps the lower class index on ties",
              constant_compares=True)
    scores = []
    for cls in range(num_classes):
        high, low = (cls + 1) * width - 1, cls * width
        scores.append((f"{high}:{low}" if high != low else f"{low}",
                       stager.rename(f"score{cls}", latency)))
    class_idx = stager.rename(class_idx, latency)

    registers = stager.registers()
    stages = [Stage() for _ in range(max(latency, 1))]
    for (stage, _), block in blocks.items():
        stages[stage].blocks.append(block)
    for stage, regs in registers.items():
        stages[stage].registers = regs
    expressions = ([w.expression for s in stages for b in s.blocks for w in b.wires]
                   + [r.expression for regs in registers.values() for r in regs]
                   + [source for _, source in scores])
    return Design(stages, scores, class_idx, latency, _unused_signals(g, expressions))


_READ = re.compile(r"\b(?:g(\d+)|x\[(\d+)\])")


def _unused_signals(g: nx.DiGraph, expressions: list[str]) -> list[str]:
    """Input bits (as ranges) and gates that no expression reads, for the unused_ok reduction.

    Taken from the written expressions, not the graph: at -O0 a gate keeps edges to
    operands its table ignores (a constant table, `A` of two inputs), which it never reads.
    """
    read_gates, read_inputs = set(), set()
    for expression in expressions:
        for gate, bit in _READ.findall(expression):
            if gate:
                read_gates.add(int(gate))
            else:
                read_inputs.add(int(bit))
    unused_inputs = [i for i in range(g.graph["num_inputs"]) if i not in read_inputs]
    items = []
    for _, run in groupby(enumerate(unused_inputs), key=lambda pair: pair[1] - pair[0]):
        bits = [bit for _, bit in run]
        items.append(f"x[{bits[0]}]" if len(bits) == 1 else f"x[{bits[-1]}:{bits[0]}]")
    items.extend(f"g{n}" for n in ir.topological_gates(g) if n not in read_gates)
    return items


def _chunks(items: list[str], size: int = _ITEMS_PER_LINE) -> list[str]:
    return [", ".join(items[i:i + size]) for i in range(0, len(items), size)]


def _check_module_name(name: str) -> None:
    if not _IDENTIFIER.match(name) or name in _RESERVED:
        raise LgnError(f"model name {name!r} cannot be a Verilog module name (use ASCII letters, "
                       "digits and _, not starting with a digit, and not a Verilog keyword)")
    if _SIGNAL.match(name):
        raise LgnError(f"model name {name!r} cannot be a Verilog module name: it is the name of "
                       "a signal inside the emitted module (rename the model)")


def _check_options(pipeline: int, reset: str) -> None:
    if pipeline < 0:
        raise LgnError(f"--pipeline must be 0 (combinational) or a positive number of logic "
                       f"layers per stage, not {pipeline}")
    if reset not in RESETS:
        raise LgnError(f"unknown reset {reset!r} (choose from {', '.join(RESETS)})")


def emit_verilog(g: nx.DiGraph, pipeline: int = 0, reset: str = "sync",
                 testbench: bool = False, feature_bits: str | None = None) -> dict[str, str]:
    """File name -> contents: `<name>.v` (pipelined when pipeline > 0); with `testbench` a
    cocotb testbench that checks it against the reference (see `testbench_files`); with
    `feature_bits` ("W" or "W.F") `<name>_features.v`, the module behind its encoder."""
    name = g.graph["name"]
    _check_module_name(name)
    _check_options(pipeline, reset)
    design = layout(g, pipeline)
    width, idx_width = score_width(g.graph["group_size"]), index_width(g.graph["num_classes"])
    source = render(
        "verilog.v.j2", s=model_summary(g), version=__version__, width=width,
        idx_width=idx_width, design=design, pipeline=pipeline,
        reset=reset if pipeline else "none", unused=_chunks(design.unused),
        valid_shift=_valid_shift(design.latency),
    )
    files = {f"{name}.v": source}
    if feature_bits is not None:
        files.update(feature_encoder(g, feature_bits, design.latency,
                                     reset if pipeline else "none"))
    if testbench:
        files.update(testbench_files(g, design.latency, reset if pipeline else "none"))
    return files


def parse_feature_bits(spec: str) -> tuple[int, int]:
    """"W" or "W.F" -> (W total bits, F fractional bits) of an unsigned fixed-point feature."""
    match = re.fullmatch(r"(\d+)(?:\.(\d+))?", spec.strip())
    bits, frac = (int(match[1]), int(match[2] or 0)) if match else (0, 0)
    if not match or not 1 <= bits <= 64 or frac > bits:
        raise LgnError(f"--feature-bits wants W or W.F (unsigned fixed point, 1 <= W <= 64, "
                       f"F <= W fractional bits), not {spec!r}")
    return bits, frac


def feature_comparators(thresholds, bits: int, frac: int) -> tuple[list[list[tuple[int, str]]],
                                                                   list[str]]:
    """Per feature, (input bit, expression) of each threshold, and the features never read.

    For a feature q on the grid of 2**-frac, q > t exactly when q >= floor(t * 2**frac) + 1;
    a bound at or below 0 always holds, one above the largest value never does.
    """
    thresholds = np.asarray(thresholds, dtype=np.float64)
    num_thresholds = thresholds.shape[1]
    comparators, unused = [], []
    for f, row in enumerate(thresholds):
        feature = f"features[{(f + 1) * bits - 1}:{f * bits}]" if bits > 1 else f"features[{f}]"
        bounds = np.floor(row * 2.0 ** frac).astype(np.int64) + 1
        exprs = [(f * num_thresholds + t,
                  "1'b1" if bound <= 0 else "1'b0" if bound >= 1 << bits
                  else f"{feature} >= {bits}'d{bound}") for t, bound in enumerate(bounds.tolist())]
        if all(expression.startswith("1'b") for _, expression in exprs):
            unused.append(feature)
        comparators.append(exprs)
    return comparators, unused


def feature_encoder(g: nx.DiGraph, spec: str, latency: int, reset: str) -> dict[str, str]:
    """`<name>_features.v`: comparators on fixed-point features in front of the network."""
    encoder = g.graph.get("encoder")
    if encoder is None:
        raise LgnError("--feature-bits needs a model with an encoder (thresholds); this one "
                       "takes encoded input bits only")
    bits, frac = parse_feature_bits(spec)
    name = g.graph["name"]
    comparators, unused = feature_comparators(encoder.thresholds, bits, frac)
    num_classes = g.graph["num_classes"]
    ports = Ports(g.graph["num_inputs"], num_classes, score_width(g.graph["group_size"]),
                  index_width(num_classes), latency, reset)
    source = render("verilog_features.v.j2", name=name, version=__version__, bits=bits,
                    frac=frac, thresholds=encoder.thresholds.shape[1],
                    num_features=len(comparators), comparators=comparators, unused=unused,
                    ports=ports, latency=latency, reset=reset)
    return {f"{name}_features.v": source}


def testbench_files(g: nx.DiGraph, latency: int, reset: str) -> dict[str, str]:
    """A self-contained cocotb testbench for users' CI: the bench, vectors + expected, runners.

    The bench is lgn-compile's own (`verify/cocotb_bench.py`, standalone by design); the
    expected outputs come from the IR reference evaluator on seeded random vectors.
    """
    name = g.graph["name"]
    num_classes = g.graph["num_classes"]
    ports = Ports(g.graph["num_inputs"], num_classes, score_width(g.graph["group_size"]),
                  index_width(num_classes), latency, reset)
    bits = random_input_bits(TESTBENCH_SEED, TESTBENCH_VECTORS, ports.num_inputs)
    expected = evaluate.scores(g, bits)
    stim = stimulus(bits, ports, valid=TESTBENCH_VALID if latency else None,
                    expected=(expected, expected.argmax(axis=1)))
    bench = importlib.resources.files("lgn_compile.verify").joinpath("cocotb_bench.py")
    context = {"name": name, "version": __version__, "runner": TESTBENCH_RUNNER,
               "num_vectors": TESTBENCH_VECTORS, "latency": latency}
    return {f"tb_{name}.py": bench.read_text(),
            f"tb_{name}.json": json.dumps(stim, indent=1) + "\n",
            TESTBENCH_RUNNER: render("tb_run.py.j2", **context),
            "Makefile": render("tb_Makefile.j2", **context)}


def _valid_shift(latency: int) -> str:
    """The next value of the valid shift register (bit k: valid_in delayed by k+1 clocks)."""
    return "valid_in" if latency <= 1 else f"{{valid_pipe[{latency - 2}:0], valid_in}}"


def verilog_report(source: str, name: str, synth: bool = False) -> dict:
    """The Verilog part of report.json: pipeline latency and reset, and yosys figures if asked."""
    ports = parse_ports(source)
    report = {"module": name, "latency": ports.latency, "reset": ports.reset,
              "clocked": ports.latency > 0}
    if synth:
        from lgn_compile.synth import synth_report

        report["synth"] = synth_report(source, name)
    return report
