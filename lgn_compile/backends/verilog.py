"""Verilog backend: one synthesizable, combinational Verilog-2005 module per network.

    module <name>(input  wire [NUM_INPUTS-1:0]        x,
                  output wire [NUM_CLASSES*W-1:0]     scores,     // class c at scores[c*W +: W]
                  output wire [IW-1:0]                class_idx); // argmax, ties to the lowest c

W = clog2(group_size + 1) bits hold one class score, IW = max(1, clog2(num_classes)).
Every gate is one named wire (`wire g123 = x[4] & g17;`). The renderer here computes the
structure the template writes out: per class a balanced adder tree over the group's
output bits (explicitly sized partial sums, zero-extended operands, so the netlist is the
same under every tool), and the argmax as a chain of strict `>` comparisons.
Inputs and gates the network never reads (input bits the optimized net ignores, dead gates
at -O0) go into one `unused_ok` AND-reduction, Verilator's documented idiom, so the module
is clean under `verilator --lint-only -Wall`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import groupby

import networkx as nx

from lgn_compile import __version__, ir
from lgn_compile.backends import gate_lines, model_summary, output_drivers, render
from lgn_compile.errors import LgnError

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
_SIGNAL = re.compile(r"(x|scores|class_idx|unused_ok|g\d+|score\d+|take\d+|idx\d+|best\d+"
                     r"|c\d+_s\d+_\d+)\Z")
_ITEMS_PER_LINE = 8


@dataclass
class Wire:
    """One `wire [width-1:0] name = expression;` line of the adder trees or the argmax."""

    name: str
    width: int
    expression: str

    @property
    def range(self) -> str:
        return "" if self.width == 1 else f"[{self.width - 1}:0] "


def score_width(group_size: int) -> int:
    """Bits of one class score: clog2(group_size + 1), at least 1."""
    return max(1, group_size.bit_length())


def index_width(num_classes: int) -> int:
    """Bits of class_idx: clog2(num_classes), at least 1."""
    return max(1, (num_classes - 1).bit_length())


def _spell(g: nx.DiGraph, node: int) -> str:
    attrs = g.nodes[node]
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
            wires.append(Wire(name, width, expression))
            merged.append((name, total))
        if len(level) % 2:
            merged.append(level[-1])
        level = merged
    root = level[0][0]
    if root != f"score{cls}":  # a one-bit group: the score is the output bit itself
        wires.append(Wire(f"score{cls}", 1, root))
    return wires, f"score{cls}"


def argmax_chain(num_classes: int, width: int, idx_width: int) -> tuple[list[Wire], str]:
    """Running maximum over the classes in index order; strict `>` keeps the first maximum."""
    wires: list[Wire] = []
    best, index = "score0", f"{idx_width}'d0"
    for cls in range(1, num_classes):
        take = f"take{cls}"
        wires.append(Wire(take, 1, f"score{cls} > {best}"))
        wires.append(Wire(f"idx{cls}", idx_width, f"{take} ? {idx_width}'d{cls} : {index}"))
        index = f"idx{cls}"
        if cls < num_classes - 1:  # the last running maximum is never read
            wires.append(Wire(f"best{cls}", width, f"{take} ? score{cls} : {best}"))
            best = f"best{cls}"
    return wires, index


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


def emit_verilog(g: nx.DiGraph) -> dict[str, str]:
    """File name (`<name>.v`) -> contents of the combinational Verilog module."""
    name = g.graph["name"]
    _check_module_name(name)
    num_classes, group_size = g.graph["num_classes"], g.graph["group_size"]
    width, idx_width = score_width(group_size), index_width(num_classes)
    spell = lambda node: _spell(g, node)  # noqa: E731

    lines = gate_lines(g, spell, _spell_const)
    layers = [(layer, list(run)) for layer, run in groupby(lines, key=lambda line: line.layer)]
    drivers = output_drivers(g, spell)
    classes = []
    for cls in range(num_classes):
        wires, _ = adder_tree(cls, drivers[cls * group_size:(cls + 1) * group_size])
        high, low = (cls + 1) * width - 1, cls * width
        classes.append({"wires": wires, "bits": f"{high}:{low}" if high != low else f"{low}"})
    argmax, class_idx = argmax_chain(num_classes, width, idx_width)
    unused = _unused_signals(g, [line.expression for line in lines] + drivers)

    source = render(
        "verilog.v.j2", s=model_summary(g), version=__version__,
        width=width, idx_width=idx_width, layers=layers, classes=classes, argmax=argmax,
        class_idx=class_idx, unused=_chunks(unused),
    )
    return {f"{name}.v": source}
