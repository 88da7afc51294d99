"""The Verilog module as objects: signals, the wires that compute them, pipeline registers.

`design(g, pipeline, reset)` builds the whole module before any text exists: every wire
is a `Wire` that holds the signals it reads (so pipelining, delay registers and the list
of unused signals come from the objects, never from re-reading Verilog), and the result,
a `Design`, carries what the compiler reports (ports, latency, stages, register bits).
The template (templates/verilog.v.j2) only spells it out.

The head after the logic layers, sized for LUTs:
- popcount per class: a compressor tree over the class's bit heap. The heap holds each
  distinct signal once, in the columns of its multiplicity: after the passes most output
  bits of a learned-wiring net repeat another bit of their class (a pass-through gate of
  the last layer reading what its neighbour reads; 56 % on the 44k MNIST nets), and a bit
  counted k times is one leaf of weight k, not k leaves; constant bits add up to one
  constant, a 1 bit in each column where its binary digits are 1. Each level replaces
  every column's bits (up to `counter_inputs` at a time, default 6) by the binary count of
  them: a 6:3 counter is three 6-input functions, one LUT6 each. On LUT4 FPGAs (ECP5,
  iCE40) 3:2 counters (full adders: two LUT4, one level each) are smaller and faster:
  a 6-input function there is four LUT4 and two muxes. Arithmetic is modulo
  2**W (W the score width; a score never reaches 2**W), so no bit above column W-1 is
  built. When every column holds at most two bits, one W-bit adder (a carry chain)
  finishes the score; with one bit per column the score is just their concatenation.
- argmax: a balanced comparator tree (tournament) of strict `>`, the lower index winning
  ties, as torch.argmax; each match is a comparison level and a selection level. The
  comparison `right > left` is the borrow of `left - right` (one W+1-bit subtraction):
  a carry chain whose last carry is the result, with no inverter before or after it
  (yosys maps `>` on ECP5 to a chain plus a LUT after it: 248 MHz where the borrow
  reaches 330 MHz in the same argmax tree).

Datapath levels, in order: the logic layers, the counter levels, the final adder (when a
class needs one), the argmax levels. `pipeline=N` puts a register stage after every N
levels; a signal read K stages after its own is read through registers `<name>_q1.._qK`,
built only for signals that are read that late.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from itertools import groupby

import networkx as nx

from lgn_compile import gates, ir
from lgn_compile.verify.simulate import Ports

COUNTER_INPUTS = 6  # bits a popcount counter takes: one LUT6 per output bit
COUNTER_SIZES = (3, 4, 5, 6)  # the choices: 3 (full adders) for LUT4 FPGAs, 6 for LUT6


@dataclass(eq=False)
class Signal:
    """A named value of the module; `stage` is the pipeline stage its value belongs to."""

    name: str
    width: int = 1
    stage: int = 0

    @property
    def range(self) -> str:
        return "" if self.width == 1 else f"[{self.width - 1}:0] "

    def spell(self) -> str:
        return self.name


@dataclass(eq=False)
class Input(Signal):
    """Input bit x[index]."""

    index: int = 0


@dataclass(eq=False)
class Const:
    """A literal operand (reads nothing)."""

    value: int
    width: int = 1

    def spell(self) -> str:
        return f"1'b{self.value}" if self.width == 1 else f"{self.width}'d{self.value}"


Operand = Signal | Const
ZERO = Const(0)


def _signal_of(operand: Operand | None) -> Signal | None:
    return operand if isinstance(operand, Signal) else None


def _value(operand: Operand | None, values: dict[Signal, int]) -> int:
    return values[operand] if isinstance(operand, Signal) else operand.value if operand else 0


@dataclass(eq=False)
class Wire(Signal):
    """`wire [width-1:0] name = <kind over args>;` at datapath level `level`.

    kinds: gate (param: truth table; args: the operands it depends on, in operand order,
    None for one it ignores), count (bit `param` of the popcount of args), add (args: rows
    of `width` bits each, least significant first; param: a constant added), sub (a - b
    modulo 2**width), bit (bit `param` of a), mux (args sel, a, b: sel ? a : b).
    """

    kind: str = "gate"
    args: list = field(default_factory=list)
    param: int = 0
    level: int = 0

    def reads(self) -> list[Signal]:
        return [s for s in map(_signal_of, self.args) if s is not None]

    @property
    def expression(self) -> str:
        return _SPELL[self.kind](self)

    def evaluate(self, values: dict[Signal, int]) -> int:
        """The wire's value given the values of what it reads (the head's Python model)."""
        return _EVALUATE[self.kind](self, [_value(a, values) for a in self.args])


def _spell_gate(wire: Wire) -> str:
    arity = len(wire.args)
    expression = gates.table_expression(wire.param, arity)
    if expression is None:  # a constant table, left when folding is off
        return ZERO.spell() if wire.param & 1 == 0 else Const(1).spell()
    return expression.format(*(a.spell() if a is not None else "" for a in wire.args))


def _spell_count(wire: Wire) -> str:
    """Bit k of the popcount of up to 6 bits, as full adders written out in logic.

    The inputs split into halves of at most 3 bits, each counted as sum + 2 * carry (a
    full adder); the halves then add as s1 + s2 + 2 * (c1 + c2). Logic, not `+`, so that
    synthesis maps each output bit to one LUT6 instead of a carry chain.
    """
    names = [a.spell() for a in wire.args]
    assert 1 <= len(names) <= 6, "counters take 1 to 6 bits"
    half = (len(names) + 1) // 2
    (s1, c1), (s2, c2) = _full_adder(names[:half]), _full_adder(names[half:])
    if wire.param == 0:
        return " ^ ".join(names)
    if s2 is None:  # one half: at most 3 bits, bit 1 is its carry
        return c1
    both = f"{s1} & {s2}"  # the carry out of s1 + s2
    if wire.param == 1:
        return " ^ ".join(t for t in (c1, c2, f"({both})") if t)
    if c2 is None:
        return f"{c1} & {s1} & {s2}"
    return f"({c1} & {c2}) | (({c1} ^ {c2}) & {s1} & {s2})"


def _full_adder(names: list[str]) -> tuple[str | None, str | None]:
    """(sum, carry) expressions of 0 to 3 one-bit names; None where always 0."""
    if not names:
        return None, None
    if len(names) == 1:
        return names[0], None
    total = "(" + " ^ ".join(names) + ")"
    if len(names) == 2:
        return total, f"({names[0]} & {names[1]})"
    a, b, c = names
    return total, f"(({a} & {b}) | ({c} & ({a} ^ {b})))"


def _spell_row(row: list[Operand]) -> str:
    return row[0].spell() if len(row) == 1 else \
        "{" + ", ".join(bit.spell() for bit in reversed(row)) + "}"


def _spell_add(wire: Wire) -> str:
    rows = [wire.args[i:i + wire.width] for i in range(0, len(wire.args), wire.width)]
    terms = [_spell_row(row) for row in rows]
    if wire.param or not terms:
        terms.append(Const(wire.param, wire.width).spell())
    return " + ".join(terms)


_SPELL = {
    "gate": _spell_gate,
    "count": _spell_count,
    "add": _spell_add,
    "sub": lambda w: f"{{1'b0, {w.args[0].spell()}}} - {{1'b0, {w.args[1].spell()}}}",
    "bit": lambda w: f"{w.args[0].spell()}[{w.param}]",
    "mux": lambda w: f"{w.args[0].spell()} ? {w.args[1].spell()} : {w.args[2].spell()}",
}
_EVALUATE = {
    "gate": lambda w, v: gates.evaluate_table(w.param, tuple(v)),
    "count": lambda w, v: (sum(v) >> w.param) & 1,
    "add": lambda w, v: (sum(bit << (i % w.width) for i, bit in enumerate(v)) + w.param)
    % (1 << w.width),
    "sub": lambda w, v: (v[0] - v[1]) % (1 << w.width),
    "bit": lambda w, v: (v[0] >> w.param) & 1,
    "mux": lambda w, v: v[1] if v[0] else v[2],
}


@dataclass(eq=False)
class Register(Signal):
    """`name <= source` at the end of stage `stage - 1`: `source` one clock later.

    `keep`: one of several copies of the same value (fanout duplication), which synthesis
    must not merge back into one flip-flop."""

    source: Signal | None = None
    keep: bool = False

    @property
    def expression(self) -> str:
        return self.source.spell()


@dataclass
class Block:
    """Wires under one comment: a logic layer, a class's popcount, or the argmax."""

    title: str
    wires: list[Wire] = field(default_factory=list)
    constant_compares: bool = False  # argmax: comparisons may be constant without folding


@dataclass
class Stage:
    blocks: list[Block] = field(default_factory=list)
    registers: list[Register] = field(default_factory=list)  # loaded at the stage's end


@dataclass
class Design:
    """The module: stages of wires and registers, outputs, and the figures it reports."""

    ports: Ports
    pipeline: int
    stages: list[Stage]
    scores: list[tuple[str, Operand]]  # (bit range in `scores`, source) per class
    class_idx: Operand
    unused: list[str]                  # inputs (as ranges) and gates nothing reads
    taps: list[tuple[str, Operand]]    # (out<j>, driver): output bit j, named
    levels: dict[str, int]             # datapath levels: logic, popcount, argmax
    counter_inputs: int = COUNTER_INPUTS  # bits per popcount counter
    max_fanout: int = 0                   # readers per register (0: no limit)
    distinct_bits: int = 0                # distinct signals the popcounts read, all classes

    @property
    def latency(self) -> int:
        return self.ports.latency

    @property
    def register_bits(self) -> int:
        """Flip-flops of the datapath and of the valid pipeline."""
        return sum(self.register_split().values()) + self.latency

    def register_split(self) -> dict[str, int]:
        """Datapath flip-flops delaying logic signals (inputs, gates) and head signals."""
        split = {"logic": 0, "head": 0}
        for stage in self.stages:
            for register in stage.registers:
                origin = register
                while isinstance(origin, Register):
                    origin = origin.source
                head = isinstance(origin, Wire) and origin.kind != "gate"
                split["head" if head else "logic"] += register.width
        return split

    def wires(self) -> list[Wire]:
        return [w for stage in self.stages for block in stage.blocks for w in block.wires]

    def summary(self) -> dict:
        """The design's part of report.json."""
        head = [w for w in self.wires() if w.kind != "gate"]
        return {"latency": self.latency, "reset": self.ports.reset, "clocked": self.latency > 0,
                "stages": len(self.stages) if self.latency else 0, "levels": self.levels,
                "register_bits": self.register_bits if self.latency else 0,
                "register_split": self.register_split(), "max_fanout": self.max_fanout,
                "head": {"counter_inputs": self.counter_inputs,
                         "distinct_bits": self.distinct_bits,
                         "counters": sum(1 for w in head if w.kind == "count"),
                         "adders": sum(1 for w in head if w.kind == "add" and w.level),
                         "comparators": sum(1 for w in head if w.kind == "sub")}}


def score_width(group_size: int) -> int:
    """Bits of one class score: clog2(group_size + 1), at least 1."""
    return max(1, group_size.bit_length())


def index_width(num_classes: int) -> int:
    """Bits of class_idx: clog2(num_classes), at least 1."""
    return max(1, (num_classes - 1).bit_length())


def pipeline_latency(num_levels: int, pipeline: int) -> int:
    """Clock cycles from valid_in to valid_out: one register stage per `pipeline` levels."""
    return max(1, -(-num_levels // pipeline)) if pipeline else 0


def popcount(cls: int, leaves: list[Operand], width: int,
             counter_inputs: int = COUNTER_INPUTS) -> tuple[list[Wire], Wire]:
    """A compressor tree counting the 1-bit `leaves` modulo 2**width: (wires, score wire).

    A signal that is several leaves enters the heap once per set bit of its multiplicity
    (weight 2**k in column k), and the constant leaves' sum enters as its binary digits,
    so the tree's size follows the distinct signals, not the group size.

    Wire levels: 1.. for the counter levels; the score wire has level 0 when it is only a
    concatenation (or a constant) and `depth + 1` when it adds two rows. Of two greedy
    column splits (full counters plus <= 2 bits passed on, or nearly equal counters over
    the whole column) the one with fewer levels, then fewer counters, is kept: neither
    wins everywhere (200 bits: 5 levels vs 6; 13 bits: 4 vs 2).
    """
    trees = [_popcount(cls, leaves, width, counter_inputs, balanced) for balanced in (0, 1)]
    return min(trees, key=lambda tree: (max(w.level for w in tree[0]), len(tree[0])))


def _split(column: list[Operand], size: int, balanced: bool):
    """(bits, passed on) pieces of one column for one counter level."""
    if len(column) <= 2:
        return [(column, True)]
    if balanced:
        parts = -(-len(column) // size)
        return [(column[p * len(column) // parts:(p + 1) * len(column) // parts], False)
                for p in range(parts)]
    full = [(column[i:i + size], False) for i in range(0, len(column), size)]
    if len(full[-1][0]) <= 2:  # a counter over one or two bits would not shrink the heap
        full[-1] = (full[-1][0], True)
    return full


def weighted_leaves(leaves: list[Operand]) -> tuple[list[tuple[Signal, int]], int]:
    """The distinct signals among `leaves` with their multiplicities, in order of first
    appearance, and the sum of the constant leaves."""
    weights: dict[int, list] = {}
    ones = 0
    for leaf in leaves:
        if isinstance(leaf, Const):
            ones += leaf.value
        else:
            weights.setdefault(id(leaf), [leaf, 0])[1] += 1
    return [(signal, weight) for signal, weight in weights.values()], ones


def _popcount(cls: int, leaves: list[Operand], width: int, counter_inputs: int,
              balanced: bool) -> tuple[list[Wire], Wire]:
    # The tree's shape (and so its wire names and the pipeline latency) follows the
    # distinct signals: `verify --formal` builds its reference head from the checked
    # Verilog's `out<j>` taps, so both heads have the same leaves and match wire for wire.
    # A counter size other than the default names its wires apart (`_of3`): `verify
    # --formal` matches same-named wires of two builds, and equal names must mean equal
    # functions there.
    suffix = "" if counter_inputs == COUNTER_INPUTS else f"_of{counter_inputs}"
    weighted, ones = weighted_leaves(leaves)
    columns: list[list[Operand]] = [[] for _ in range(width)]
    for signal, weight in weighted + [(Const(1), ones)]:  # the constant: one bit per 1 digit
        for k in range(width):
            if weight >> k & 1:
                columns[k].append(signal)
    wires: list[Wire] = []
    depth = 0
    while any(len(column) > 2 for column in columns):
        depth += 1
        merged: list[list[Operand]] = [[] for _ in range(width)]
        counter = 0
        for j, column in enumerate(columns):
            for take, passed in _split(column, counter_inputs, balanced):
                if passed:
                    merged[j].extend(take)
                    continue
                for k in range(min(len(take).bit_length(), width - j)):
                    wire = Wire(f"pc{cls}_{depth}_{counter}_{k}{suffix}", 1, kind="count",
                                args=take, param=k, level=depth)
                    wires.append(wire)
                    merged[j + k].append(wire)
                counter += 1
        columns = merged
    rows = [[column[r] if len(column) > r else ZERO for column in columns]
            for r in range(max(map(len, columns)))]
    score = Wire(f"score{cls}", width, kind="add", args=[b for row in rows for b in row],
                 level=depth + 1 if len(rows) > 1 else 0)
    return wires + [score], score


def argmax(scores: list[Operand], width: int, idx_width: int) -> tuple[list[Wire], Operand]:
    """A balanced comparator tree over (score, index) pairs: (wires, class_idx operand).

    Neighbours meet pairwise at each level; the right (higher-indexed) side wins only with
    a strictly greater score, so ties go to the lowest class index: `take` = right > left
    is bit `width` of `sub` = {0, left} - {0, right}, the borrow (one carry chain). The
    winning score of the final match is never read, so it is not built. A match takes two
    datapath levels, the comparison and then the selection, so `--pipeline 1` registers
    between them: on ECP5 the two in one clock were the critical path.
    """
    level: list[tuple[Operand, Operand]] = [(s, Const(c, idx_width)) for c, s in enumerate(scores)]
    wires: list[Wire] = []
    depth = 0
    while len(level) > 1:
        depth += 1
        merged = []
        for i in range(0, len(level) - 1, 2):
            (left_score, left_idx), (right_score, right_idx) = level[i], level[i + 1]
            sub = Wire(f"sub{depth}_{i // 2}", width + 1, kind="sub",
                       args=[left_score, right_score], level=2 * depth - 1)
            take = Wire(f"take{depth}_{i // 2}", 1, kind="bit", args=[sub], param=width,
                        level=2 * depth - 1)
            idx = Wire(f"idx{depth}_{i // 2}", idx_width, kind="mux",
                       args=[take, right_idx, left_idx], level=2 * depth)
            wires += [sub, take, idx]
            best = right_score
            if len(level) > 2:
                best = Wire(f"best{depth}_{i // 2}", width, kind="mux",
                            args=[take, right_score, left_score], level=2 * depth)
                wires.append(best)
            merged.append((best, idx))
        if len(level) % 2:
            merged.append(level[-1])
        level = merged
    return wires, level[0][1]


class _Stager:
    """Places wires in pipeline stages; a read of an earlier stage goes through registers."""

    def __init__(self, pipeline: int):
        self.pipeline = pipeline
        self.delayed: dict[tuple[int, int], Register] = {}  # (id(signal), clocks) -> register
        self.registers: list[Register] = []

    def level_stage(self, level: int) -> int:
        return level // self.pipeline if self.pipeline else 0

    def place(self, wire: Wire, level: int) -> None:
        """Give `wire` its stage (no earlier than `level`'s nor its reads') and delay reads."""
        if not self.pipeline:
            return
        wire.stage = max([self.level_stage(level)] + [s.stage for s in wire.reads()])
        wire.args = [self.at(a, wire.stage) for a in wire.args]

    def at(self, operand: Operand, stage: int) -> Operand:
        """`operand` as read in `stage`: through registers when it belongs to an earlier one."""
        signal = _signal_of(operand)
        if signal is None or signal.stage >= stage:
            return operand
        return self.delay(signal, stage - signal.stage)

    def delay(self, signal: Signal, clocks: int) -> Register:
        key = (id(signal), clocks)
        if key not in self.delayed:
            source = signal if clocks == 1 else self.delay(signal, clocks - 1)
            base = signal.name.replace("[", "").replace("]", "")
            self.delayed[key] = register = Register(f"{base}_q{clocks}", signal.width,
                                                    signal.stage + clocks, source=source)
            self.registers.append(register)
        return self.delayed[key]


@functools.lru_cache(maxsize=65536)
def _support(table: int, arity: int) -> tuple[bool, ...]:
    """Which operands the table depends on (the ones its expression spells)."""
    return tuple(gates.depends_on(table, arity, i) for i in range(arity))


def _gate_wires(g: nx.DiGraph, inputs: list[Input]) -> tuple[list[Wire], dict[int, Operand]]:
    """One wire per gate (args: the operands its table depends on), and node -> operand."""
    nodes = ir.node_attrs(g)
    operand: dict[int, Operand] = {}
    for node, attrs in nodes.items():
        if attrs["kind"] == ir.INPUT:
            operand[node] = inputs[attrs["index"]]
        elif attrs["kind"] == ir.CONST:
            operand[node] = Const(attrs["value"])
    wires = []
    for node in ir.topological_gates(g):
        attrs = nodes[node]
        table, ops = attrs["table"], attrs["operands"]
        args = [operand[op] if read else None for op, read in zip(ops, _support(table, len(ops)))]
        operand[node] = wire = Wire(f"g{node}", 1, kind="gate", args=args, param=table,
                                    level=attrs["layer"])
        wires.append(wire)
    return wires, operand


def head_leaves(drivers: list[Operand], group_size: int,
                shared_as: list[str] | None = None) -> list[Operand]:
    """What the popcount reads for each output bit: its driver; with `shared_as` (another
    design's tap right-hand sides, one per output bit) the driver of the first bit of the
    class spelled alike there, or the constant spelled there.

    Why: `verify --formal`'s reference is the model's own gates, where no two output bits
    share a driver; built with the checked design's sharing, its head has the same leaves
    and wire names (the proof's cut points), and its taps, still the model's own drivers,
    are proven equal to the checked ones: that bits read once really are equal."""
    if shared_as is None:
        return drivers
    leaves: list[Operand] = []
    for start in range(0, len(drivers), group_size):
        first: dict[str, int] = {}
        for j in range(start, start + group_size):
            constant = _CONSTANTS.get(shared_as[j])
            leaves.append(Const(constant) if constant is not None
                          else drivers[first.setdefault(shared_as[j], j)])
    return leaves


_CONSTANTS = {Const(value).spell(): value for value in (0, 1)}


def design(g: nx.DiGraph, pipeline: int = 0, reset: str = "sync",
           counter_inputs: int = COUNTER_INPUTS, max_fanout: int = 0,
           shared_as: list[str] | None = None) -> Design:
    """The module for the network: its wires in pipeline stages (one when combinational).

    `max_fanout` (pipelined only; 0: no limit) registers the inputs too (one more stage)
    and gives each register at most that many readers (`_limit_fanout`); `shared_as`: see
    `head_leaves` (the formal reference only)."""
    num_classes, group_size = g.graph["num_classes"], g.graph["group_size"]
    width, idx_width = score_width(group_size), index_width(num_classes)
    inputs = [Input(f"x[{i}]", index=i) for i in range(g.graph["num_inputs"])]
    gate_wires, operand = _gate_wires(g, inputs)
    nodes = ir.node_attrs(g)
    drivers = [operand[nodes[out]["operands"][0]] for out in ir.outputs(g)]
    leaves = head_leaves(drivers, group_size, shared_as)
    groups = [leaves[cls * group_size:(cls + 1) * group_size] for cls in range(num_classes)]
    distinct = [len(weighted_leaves(group)[0]) for group in groups]
    trees = [popcount(cls, group, width, counter_inputs) for cls, group in enumerate(groups)]
    compare, class_idx = argmax([score for _, score in trees], width, idx_width)

    logic = max((w.level for w in gate_wires), default=-1) + 1
    counters = max((w.level for wires, score in trees for w in wires if w is not score),
                   default=0)
    adder = int(any(score.level for _, score in trees))
    levels = {"logic": logic, "popcount": counters + adder,
              "argmax": max((w.level for w in compare), default=0)}
    shift = pipeline if pipeline and max_fanout else 0  # levels of the input register stage
    latency = pipeline_latency(sum(levels.values()) + shift, pipeline)

    stager = _Stager(pipeline)
    blocks: dict[tuple[int, str], Block] = {}

    def place(wire: Wire, level: int, title: str, constant_compares: bool = False) -> None:
        stager.place(wire, level + shift)
        blocks.setdefault((wire.stage, title), Block(title, [], constant_compares)) \
            .wires.append(wire)

    for layer, run in groupby(gate_wires, key=lambda wire: wire.level):
        run = list(run)
        title = f"logic layer {layer}: {len(run)} gate{'s' if len(run) != 1 else ''}"
        for wire in run:
            place(wire, layer, title)
    for cls, (wires, score) in enumerate(trees):
        first = cls * group_size
        title = (f"class {cls}: popcount of output bits {first}..{first + group_size - 1}, "
                 f"{distinct[cls]} distinct (counter tree, then one adder)")
        for wire in wires:
            # the score: the adder's level, or (concatenation only) the last level before it
            place(wire, wire.level - 1 + logic if wire is not score
                  else max(logic + counters + adder - 1, 0), title)
    for wire in compare:
        place(wire, logic + levels["popcount"] + wire.level - 1,
              "argmax: comparator tree, strict > keeps the lower class index on ties",
              constant_compares=True)

    scores = []
    for cls, (_, score) in enumerate(trees):
        high, low = (cls + 1) * width - 1, cls * width
        scores.append((f"{high}:{low}" if high != low else f"{low}", stager.at(score, latency)))
    class_idx = stager.at(class_idx, latency)

    stages = [Stage() for _ in range(max(latency, 1))]
    for (stage, _), block in blocks.items():
        stages[stage].blocks.append(block)
    for register in stager.registers:
        stages[register.stage - 1].registers.append(register)
    if pipeline and max_fanout:
        _limit_fanout(stages, max_fanout)
    ports = Ports(len(inputs), num_classes, width, idx_width, latency,
                  reset if pipeline else "none")
    # named output bits, for `verify --formal` (combinational modules only; pipelined,
    # a tap would read across stages)
    taps = [] if pipeline else [(f"out{j}", driver) for j, driver in enumerate(drivers)]
    unused = _unused(inputs, gate_wires, stages,
                     [source for _, source in scores] + [driver for _, driver in taps])
    return Design(ports, pipeline, stages, scores, class_idx, unused, taps, levels,
                  counter_inputs, max_fanout if pipeline else 0, sum(distinct))


def _limit_fanout(stages: list[Stage], limit: int) -> None:
    """Give every register at most `limit` readers (wires and later registers), copies
    `<name>_f1..` taking the rest in reading order, each marked `keep`.

    Why: a flip-flop is placed near the middle of its readers, and a learned layer's
    readers are spread over the chip, so the route to the farthest one can be the
    critical path (3.4 ns of a 4.1 ns clock on ECP5). A copy per few readers can sit
    beside its own, but the route then moves in front of the copies, and the extra
    flip-flops spread the design: on ECP5 it gained 5 % on one MNIST net and lost 9 % on
    another (README), so it is an option to measure, not a default. Later stages go
    first, so the copies a register gets count as readers of its source."""
    readers: dict[int, list[tuple[object, int | None]]] = {}  # id(register) -> read slots

    def note(source, holder, slot: int | None) -> None:
        if isinstance(source, Register):
            readers.setdefault(id(source), []).append((holder, slot))

    for stage in stages:
        for block in stage.blocks:
            for wire in block.wires:
                for i, arg in enumerate(wire.args):
                    note(arg, wire.args, i)
        for register in stage.registers:
            note(register.source, register, None)
    for stage in reversed(stages):
        copies: list[Register] = []
        for register in stage.registers:
            slots = readers.get(id(register), [])
            if len(slots) <= limit:
                continue
            register.keep = True
            for k in range(1, -(-len(slots) // limit)):
                copy = Register(f"{register.name}_f{k}", register.width, register.stage,
                                source=register.source, keep=True)
                copies.append(copy)
                note(copy.source, copy, None)
                for holder, slot in slots[k * limit:(k + 1) * limit]:
                    if slot is None:
                        holder.source = copy
                    else:
                        holder[slot] = copy
        stage.registers.extend(copies)


def _unused(inputs: list[Input], gate_wires: list[Wire], stages: list[Stage],
            outputs: list[Operand]) -> list[str]:
    """Input bits (as ranges) and gates that nothing reads, for the unused_ok reduction.

    From the wires' reads, not the graph: at -O0 a gate keeps edges to operands its table
    ignores (a constant table, `A` of two inputs), which it never reads.
    """
    read = {id(s) for stage in stages for block in stage.blocks for w in block.wires
            for s in w.reads()}
    read |= {id(r.source) for stage in stages for r in stage.registers}
    read |= {id(s) for s in map(_signal_of, outputs) if s is not None}
    unused_inputs = [i.index for i in inputs if id(i) not in read]
    items = []
    for _, run in groupby(enumerate(unused_inputs), key=lambda pair: pair[1] - pair[0]):
        bits = [bit for _, bit in run]
        items.append(f"x[{bits[0]}]" if len(bits) == 1 else f"x[{bits[-1]}:{bits[0]}]")
    items.extend(w.name for w in gate_wires if id(w) not in read)
    return items
