"""C backend: a C99 header + source whose code size does not grow with the gate count.

The network is data, not code. Gates are ordered by logic level and, inside a level, by
*kernel* (one kernel per truth table of arity <= 2, per frequent wider table, and one
generic lookup-table kernel per arity for the rest). The source holds const arrays (the
operand slots of every gate, the run of gates per kernel, the output slots) and one
small loop per kernel inside a switch, so gcc compiles a 48,000-gate network as fast as
a 300-gate one: the compile cost is the array initializers, not the gates.

Batch kernel: bit-sliced, every slot is one `word` holding one bit of 64 (uint64_t), 128,
256 or 512 samples (GCC/Clang vector extensions; the width is `<NAME>_WORD_BITS`, chosen
by `simd`: "auto" picks the widest the compiler targets, the others fix it; compilers
without vector extensions fall back to uint64_t). A value's slot is reused as soon as
its last reader has run, by that reader's own result (in place: a cache hit), so the
working set is the widest live cut of the network, reported as `<NAME>_NUM_SLOTS`.
The batch path is memory-bound: on a 48k-gate net the slots outgrow L1 and every gate
reads two random slots from L2, so the layout work goes into fewer misses, not fewer
instructions (straight-line code, wider passes and prefetching measured no faster).
The class scores come from a carry-save adder counter over each group's non-constant
planes (constant output bits are summed at compile time), turned into integers by one
bit-matrix transpose per 64 counter planes; input packing is a byte-test/movemask per
64 inputs plus a 64x64 bit transpose, done for all lanes of a word at once; the
thermometer encoder runs in C on raw float features.

One-sample (embedded) API: no vectors, no floating point, no malloc; one bit per value in
uint32_t words. A net of gates with at most 2 inputs (a trained DLGN's) gets arrays of
its own, read only by this path (the batch arrays are dropped at link time when unused,
as on a microcontroller): one uint32_t per gate, its 4-bit table and the workspace bits of
its two operands (`encode_pairs`), results shifted into consecutive bits instead of
stored in slots: ~4 bytes of flash and ~18 Cortex-M4 instructions per gate, against 6-8
bytes and ~45 instructions for walking the batch wiring (result slot, operand slots,
kernel runs) one bit at a time, which nets with wider gates (or over 16,384 workspace
bits) still do. Each value keeps its own bit (no reuse): a 10,000-value net needs 1.3 KB.

Where the C lives: everything that does not depend on the model's data (the word type,
packing, transposes, the adder tree, score extraction, the threaded driver, the bit
interpreter) is one fixed header, `templates/lgn_runtime.h`: `static inline` functions
named `lgn_*`, configured by LGN_WORD_BITS / LGN_COUNT_BITS / LGN_SLOT_BITS, compiled and
unit-tested on its own against numpy (tests/test_c_runtime.py). `c_source.c.j2` keeps the
model: its arrays, the kernel switch, and thin `<name>_*` wrappers that call the runtime
with the model's constants (always-inlined where the constants matter, so gcc specializes
the runtime per model as it did when the code was in the template). The emitted `<name>.c`
inlines the header's text rather than including a `lgn_runtime.h` written beside it: the
output stays two files per model (`<name>.h`, `<name>.c`) that build with no include
path of ours, models compiled by different lgn-compile versions into one directory or
program never share (or overwrite) one runtime file, and no output file name is added
that two compiles or two backends could collide on. Everything in it is static, so two
models' sources link into one program.
"""

from __future__ import annotations

import functools
import heapq
import importlib.resources
from collections import Counter
from dataclasses import dataclass

import networkx as nx

from lgn_compile import __version__, ir
from lgn_compile.backends import model_summary, render
from lgn_compile.gates import table_expression

SIMD_MODES = ("auto", "u64", "v128", "avx2", "avx512")
# (512-, 256-, 128-bit condition) as C preprocessor expressions, per --simd mode. 128-bit
# words are SSE2 on x86-64 and NEON on ARM: both baselines of their 64-bit ABIs, so a build
# without -march flags still gets them.
_WIDTH_CONDITIONS = {
    "auto": ("defined(__AVX512F__)", "defined(__AVX2__)",
             "defined(__SSE2__) || defined(__ARM_NEON)"),
    "u64": ("0", "0", "0"),
    "v128": ("0", "0", "1"),
    "avx2": ("0", "1", "0"),
    "avx512": ("1", "0", "0"),
}
MIN_WIDE_KERNEL_GATES = 16  # a wider table gets its own loop when this many gates use it
MAX_WIDE_KERNELS = 32       # ... for at most this many tables (bounded code size)
ZERO, ONES = "LGN_ZERO", "LGN_ONES"
RUNTIME = "lgn_runtime.h"  # in templates/: the fixed runtime that every <name>.c inlines


@dataclass(frozen=True)
class Kernel:
    """One loop of the batch evaluator: gates of one table (or any table, when generic)."""

    index: int
    arity: int
    table: int     # the shared truth table; 0 for a generic kernel
    generic: bool  # per-gate tables from the lut array, evaluated as a mux tree
    expression: str  # C expression over o0..o(arity-1) (empty when generic)
    reads: tuple[int, ...] = ()  # the operands the expression spells


@dataclass
class Run:
    """Consecutive gates (in wiring order) that one kernel evaluates: a level's share."""

    kernel: int
    level: int
    count: int


def _kernels(g: nx.DiGraph, gates: list[int]) -> tuple[list[Kernel], dict[int, int]]:
    """The kernels the live gates need, and gate -> kernel index."""
    shapes = Counter((len(ir.operands(g, n)), g.nodes[n]["table"]) for n in gates)
    wide = sorted((shape for shape, count in shapes.items()
                   if shape[0] > 2 and count >= MIN_WIDE_KERNEL_GATES),
                  key=lambda shape: (-shapes[shape], shape))[:MAX_WIDE_KERNELS]
    special = sorted(shape for shape in shapes if shape[0] <= 2) + sorted(wide)
    kernels, by_shape = [], {}
    for arity, table in special:
        expression = table_expression(table, arity)
        if expression is None:  # constant table (only left when folding is off)
            expression = ONES if table & 1 else ZERO
        operands = [f"o{i}" for i in range(arity)]
        reads = tuple(i for i in range(arity) if f"{{{i}}}" in expression)
        by_shape[arity, table] = len(kernels)
        kernels.append(Kernel(len(kernels), arity, table, False, expression.format(*operands),
                              reads))
    generic = {}
    for arity in sorted({a for a, t in shapes if (a, t) not in by_shape}):
        generic[arity] = len(kernels)
        kernels.append(Kernel(len(kernels), arity, 0, True, ""))
    kernel_of = {}
    for n in gates:
        shape = (len(ir.operands(g, n)), g.nodes[n]["table"])
        kernel_of[n] = by_shape.get(shape, generic.get(shape[0]))
    return kernels, kernel_of


@dataclass
class Plan:
    """Everything the templates print: gate order, slots, kernels and runs."""

    gates: list[int]          # live gates in evaluation order
    slot: dict[int, int]      # node -> workspace slot
    num_slots: int
    kernels: list[Kernel]
    runs: list[Run]
    const_slots: list[tuple[int, int]]  # (slot, value) to fill before each evaluation
    groups: list[list[int]]   # per class: slots of its non-constant output bits
    score_base: list[int]     # per class: how many of its output bits are constant 1
    skipped: int              # gates whose value nothing reads (not evaluated)


def plan(g: nx.DiGraph) -> Plan:
    """Order gates by (level, kernel) and give every value a slot, reusing dead ones.

    Inputs take slots 0..num_inputs-1, the constants one slot per value after them. A
    value's slot is free as soon as its last reader has run, and that reader writes its
    result in place of it: the slot was just read, so the store hits the cache (with
    512-bit words a slot is one cache line). Other gates take the lowest free slot.
    Values that drive outputs are never freed. Constant outputs take no slot: they are
    counted into the class's score_base at compile time.
    """
    num_inputs = g.graph["num_inputs"]
    level = ir.levels(g)
    drivers = [ir.operands(g, out)[0] for out in ir.outputs(g)]
    pinned = {d for d in drivers if g.nodes[d]["kind"] != ir.CONST}
    read = {op for n in ir.nodes_of_kind(g, ir.GATE) for op in ir.operands(g, n)}
    gates = [n for n in ir.topological_gates(g) if n in read or n in pinned]
    kernels, kernel_of = _kernels(g, gates)
    gates.sort(key=lambda n: (level[n], kernel_of[n], n))
    readers = Counter(op for n in gates for op in ir.operands(g, n))

    slot = {i: i for i in range(num_inputs)}
    consts = sorted(n for n in ir.nodes_of_kind(g, ir.CONST) if n in readers or n in pinned)
    value_slot: dict[int, int] = {}  # one slot per constant value, however many nodes
    for n in consts:
        slot[n] = value_slot.setdefault(g.nodes[n]["value"], num_inputs + len(value_slot))
    const_slots = sorted((s, v) for v, s in value_slot.items())
    keep = pinned | set(consts)  # never freed (constant slots are shared)
    num_slots = num_inputs + len(const_slots)
    free = [i for i in range(num_inputs) if readers[i] == 0 and i not in keep]
    runs: list[Run] = []
    for node in gates:
        dead = []
        for op in ir.operands(g, node):
            readers[op] -= 1
            if readers[op] == 0 and op not in keep:
                dead.append(slot[op])
        if dead:
            slot[node] = dead.pop(0)
        elif free:
            slot[node] = heapq.heappop(free)
        else:
            slot[node], num_slots = num_slots, num_slots + 1
        if readers[node] == 0 and node not in keep:
            dead.append(slot[node])  # read only by gates that are not evaluated
        for s in dead:
            heapq.heappush(free, s)
        if runs and runs[-1].kernel == kernel_of[node] and runs[-1].level == level[node]:
            runs[-1].count += 1
        else:
            runs.append(Run(kernel_of[node], level[node], 1))
    groups, score_base = _groups(g, drivers, slot)
    tiles = -(-num_inputs // 64) * 64  # input packing transposes 64-slot tiles in place
    return Plan(gates, slot, max(num_slots, tiles, 1), kernels, runs, const_slots, groups,
                score_base, len(ir.nodes_of_kind(g, ir.GATE)) - len(gates))


PAIR_FIELD_BITS = 14  # an operand's workspace bit in a one-sample gate word (lgn_pairs)


@dataclass
class PairProgram:
    """The one-sample program of a net of gates with at most 2 inputs (lgn_pairs)."""

    words: list[int]     # per gate: table | a << 4 | b << 18 (a, b: workspace bits)
    first_word: int      # the workspace word of the first gate's result
    num_words: int       # workspace words in all (uint32_t)
    position: list[int]  # per value (fixed bits, then gates): its bit after the program


def encode_pairs(num_fixed: int, gates: list[tuple[list[int], int]]) -> PairProgram | None:
    """Values 0 .. num_fixed-1 are fixed workspace bits (inputs, constants); gate i,
    (operand values, truth table), is value num_fixed + i, its operands earlier values.
    Gate results are shifted in at the top of consecutive words from the first whole word
    after the fixed bits, so while a word fills, k of its gates done, its gate t is at
    bit 32 - k + t; after it, at bit 32 - n + t (n: the word's gate count, 32 but in the
    last word). 0- and 1-input gates read one operand twice. None when the workspace
    outgrows the operand fields or a gate has more than 2 inputs."""
    first_word = -(-num_fixed // 32)
    num_words = first_word + -(-len(gates) // 32)
    if num_words * 32 > 1 << PAIR_FIELD_BITS or any(len(ops) > 2 for ops, _ in gates):
        return None

    def bit(value: int, now: int) -> int:
        """Where `value` is while gate `now` runs (now = len(gates): after the program)."""
        if value < num_fixed:
            return value
        t = value - num_fixed
        word, done = divmod(now, 32)
        filled = done if t // 32 == word else min(32, len(gates) - t // 32 * 32)
        return (first_word + t // 32) * 32 + 32 - filled + t % 32

    words = []
    for i, (ops, table) in enumerate(gates):
        if len(ops) == 0:
            ops, table = [0, 0], 15 if table & 1 else 0
        elif len(ops) == 1:
            ops, table = ops * 2, (table & 3) | (table & 3) << 2
        a, b = (bit(op, i) for op in ops)
        words.append(table | a << 4 | b << (4 + PAIR_FIELD_BITS))
    return PairProgram(words, first_word, num_words,
                       [bit(v, len(gates)) for v in range(num_fixed + len(gates))])


def pair_program(g: nx.DiGraph, p: Plan) -> tuple[PairProgram, list[list[int]]] | None:
    """`p`'s gates as lgn_pairs runs them (inputs and constants at their slots), and per
    class the workspace bits of its non-constant output bits; None as encode_pairs."""
    num_fixed = g.graph["num_inputs"] + len(p.const_slots)
    drivers = [ir.operands(g, out)[0] for out in ir.outputs(g)]
    first_output = {}
    for k, d in enumerate(drivers):
        first_output.setdefault(d, k)
    # Inside a level (its gates independent) output gates last, in output order: a class's
    # output bits share words (lgn_mask_scores). (Moving the gates that only drive outputs
    # to the very end measured no better: many output bits are inputs and inner gates.)
    level = ir.levels(g)
    gates = sorted(p.gates, key=lambda n: (level[n], first_output.get(n, -1)))
    value = {n: s for n, s in p.slot.items() if s < num_fixed}  # gates: overwritten next
    value.update((n, num_fixed + i) for i, n in enumerate(gates))
    program = encode_pairs(num_fixed, [([value[op] for op in ir.operands(g, n)],
                                        g.nodes[n]["table"]) for n in gates])
    if program is None:
        return None
    position = {n: program.position[v] for n, v in value.items()}
    return program, _groups(g, drivers, position)[0]


def mask_entries(groups: list[list[int]]) -> tuple[list[int], list[int], list[int]]:
    """Per class, its output bits as (workspace word, mask of its bits there) entries
    (a bit counted n times is in n entries): the words, the masks, and where each class's
    entries start (and the total at the end)."""
    words, masks, sizes = [], [], []
    for group in groups:
        left, size = Counter(group), 0
        while left:
            by_word: dict[int, int] = {}
            for bit in sorted(left):
                by_word[bit // 32] = by_word.get(bit // 32, 0) | 1 << bit % 32
            words.extend(by_word)
            masks.extend(by_word.values())
            size += len(by_word)
            left -= Counter(set(left))
        sizes.append(size)
    return words, masks, _starts(sizes)


def _groups(g: nx.DiGraph, drivers: list[int],
            slot: dict[int, int]) -> tuple[list[list[int]], list[int]]:
    """Per class, the slots of the output bits to count and the constant ones' sum: the
    passes turn many output bits into constants, and those cost nothing at run time."""
    size = g.graph["group_size"]
    groups, base = [], []
    for c in range(g.graph["num_classes"]):
        members = drivers[c * size:(c + 1) * size]
        consts = [g.nodes[d].get("value", 0) for d in members if g.nodes[d]["kind"] == ir.CONST]
        groups.append([slot[d] for d in members if g.nodes[d]["kind"] != ir.CONST])
        base.append(sum(consts))
    return groups, base


def _c_array(values: list[int], per_line: int = 24) -> list[str]:
    """Initializer lines of a const array (at least one element: C has no empty arrays)."""
    values = values or [0]
    return [", ".join(map(str, values[i:i + per_line])) + ","
            for i in range(0, len(values), per_line)]


@functools.cache
def runtime_source() -> str:
    """The fixed C runtime, templates/lgn_runtime.h, as the emitted source inlines it."""
    return importlib.resources.files("lgn_compile.templates").joinpath(RUNTIME).read_text()


def emit_c(g: nx.DiGraph, simd: str = "auto") -> dict[str, str]:
    """File name -> contents: `<name>.h` (the API) and `<name>.c` (includes "<name>.h")."""
    if simd not in SIMD_MODES:
        raise ValueError(f"simd must be one of {', '.join(SIMD_MODES)}, not {simd!r}")
    name = g.graph["name"]
    p = plan(g)
    wiring, luts = [], []
    for node in p.gates:
        wiring.append(p.slot[node])
        wiring.extend(p.slot[op] for op in ir.operands(g, node))
    for run_start, run in zip(_starts([run.count for run in p.runs]), p.runs):
        if p.kernels[run.kernel].generic:
            luts.extend(g.nodes[n]["table"] for n in p.gates[run_start:run_start + run.count])
    encoder = g.graph["encoder"]
    group_size = g.graph["group_size"]
    program, bit_groups = pair_program(g, p) or (None, p.groups)
    mask_words, masks, mask_starts = mask_entries(bit_groups)
    pairs = program and dict(num_gates=len(program.words), first_word=program.first_word,
                             words=_c_array(program.words, 12))
    context = dict(
        s=model_summary(g), version=__version__, name=name, NAME=name.upper(),
        simd=simd, width_conditions=_WIDTH_CONDITIONS[simd],
        num_outputs=g.graph["num_classes"] * group_size, num_slots=p.num_slots, skipped=p.skipped,
        slot_bits=16 if p.num_slots <= 0xFFFF else 32, runtime=runtime_source(), pairs=pairs,
        classify_words=(-(-p.num_slots // 32) if program is None else program.num_words),
        mask_words=_c_array(mask_words), masks=_c_array(masks, 12),
        mask_starts=_c_array(mask_starts),
        count_bits=max(1, group_size.bit_length()),
        kernels=p.kernels, runs=p.runs, max_arity=max((k.arity for k in p.kernels), default=1),
        wiring=_c_array(wiring), luts=[f"UINT64_C({t})," for t in luts] or ["0,"],
        num_luts=len(luts), outputs=_c_array([s for group in p.groups for s in group] + [0] * 16),
        group_starts=_c_array(_starts([len(group) for group in p.groups])),
        score_base=_c_array(p.score_base), const_slots=p.const_slots,
        levels=len({r.level for r in p.runs}),
        # 64-byte words: the lookup mux tree, the score tile.
        batch_stack_bytes=64 * (64 * any(k.generic for k in p.kernels) + 64) + 256,
        threshold_range=None if encoder is None else
        [f"{float(encoder.thresholds.min()):g}", f"{float(encoder.thresholds.max()):g}"],
        thresholds=None if encoder is None else
        [[float(t).hex() + "f" for t in row] for row in encoder.thresholds.tolist()],
    )
    return {f"{name}.h": render("c_header.h.j2", **context),
            f"{name}.c": render("c_source.c.j2", **context)}


def _starts(sizes: list[int]) -> list[int]:
    """Offsets of consecutive runs of the given sizes, and the total at the end."""
    starts, total = [], 0
    for size in sizes:
        starts.append(total)
        total += size
    return starts + [total]
