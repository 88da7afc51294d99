"""Gate encoding: truth tables, difflogic op ids, and Boolean expressions of tables.

One convention everywhere (docs/DESIGN.md): a gate over operands (x0, ..., x(k-1)) is an int
`table` whose bit j is the output for the assignment j = x0*1 + x1*2 + ... (x0 is the
least significant bit, as yosys `$lut` and ABC). This module is the only place that
converts between encodings and the only place that turns a table into an expression.
"""

from __future__ import annotations

from functools import lru_cache

MAX_ARITY = 6

# Named 2-input tables, in our encoding (bit0=f(0,0), bit1=f(1,0), bit2=f(0,1), bit3=f(1,1)).
FALSE, AND, A_AND_NOT_B, A, NOT_A_AND_B, B, XOR, OR = 0, 8, 2, 10, 4, 12, 6, 14
NOR, XNOR, NOT_B, B_IMPLIES_A, NOT_A, A_IMPLIES_B, NAND, TRUE = 1, 9, 3, 11, 5, 13, 7, 15
# The 1-input tables: f(0) is bit 0, f(1) bit 1.
INVERTER, IDENTITY = 0b01, 0b10

DIFFLOGIC_OP_NAMES = (
    "FALSE", "AND", "A&~B", "A", "~A&B", "B", "XOR", "OR",
    "NOR", "XNOR", "~B", "B=>A", "~A", "A=>B", "NAND", "TRUE",
)


def difflogic_op_to_table(op_id: int) -> int:
    """Truth table of difflogic's op `op_id` (0..15).

    difflogic numbers its ops by id = 8*f(0,0) + 4*f(0,1) + 2*f(1,0) + f(1,1); our table
    has bit0=f(0,0), bit1=f(1,0), bit2=f(0,1), bit3=f(1,1). This is the one conversion.
    """
    if not 0 <= op_id < 16:
        raise ValueError(f"difflogic op id must be in 0..15, got {op_id}")
    f00, f01, f10, f11 = (op_id >> 3) & 1, (op_id >> 2) & 1, (op_id >> 1) & 1, op_id & 1
    return f00 | (f10 << 1) | (f01 << 2) | (f11 << 3)


def table_to_difflogic_op(table: int) -> int:
    """Inverse of `difflogic_op_to_table`."""
    for op_id in range(16):
        if difflogic_op_to_table(op_id) == table:
            return op_id
    raise ValueError(f"2-input table must be in 0..15, got {table}")


def full_mask(arity: int) -> int:
    """The all-ones table of a gate with `arity` operands (the TRUE function)."""
    return (1 << (1 << arity)) - 1


def evaluate_table(table: int, bits: tuple[int, ...]) -> int:
    """Output (0/1) of the gate for one assignment of its operands."""
    index = sum(bit << i for i, bit in enumerate(bits))
    return (table >> index) & 1


def cofactor(table: int, arity: int, operand: int, value: int) -> int:
    """Table of the gate with operand `operand` fixed to `value` (arity drops by one)."""
    result = 0
    out_bit = 0
    for j in range(1 << arity):
        if (j >> operand) & 1 == value:
            result |= ((table >> j) & 1) << out_bit
            out_bit += 1
    return result


def depends_on(table: int, arity: int, operand: int) -> bool:
    """Whether the gate's output can change with operand `operand`."""
    return cofactor(table, arity, operand, 0) != cofactor(table, arity, operand, 1)


@lru_cache(maxsize=65536)
def negate_operand(table: int, arity: int, operand: int) -> int:
    """Table of the same gate when operand `operand` arrives inverted (NOT absorption)."""
    flip = 1 << operand
    return sum(((table >> (j ^ flip)) & 1) << j for j in range(1 << arity))


@lru_cache(maxsize=65536)
def permute_operands(table: int, arity: int, order: tuple[int, ...]) -> int:
    """Table of the gate whose new operand p is its old operand order[p]."""
    result = 0
    for j in range(1 << arity):
        old_index = sum(((j >> p) & 1) << old for p, old in enumerate(order))
        result |= ((table >> old_index) & 1) << j
    return result


CONST_OPERANDS = ("0", "1")  # how `simplify` names a constant operand


def simplify(table: int, pattern: tuple) -> tuple[int, tuple[int, ...]]:
    """Fold constant, repeated and ignored operands out of a gate.

    `pattern` names each operand's signal: "0" or "1" for a constant, any other hashable
    (a node id) for a signal, equal names being the same signal. Returns the new table and
    the positions of the operands it keeps (distinct signals it depends on), in order.
    """
    labels: dict = {}
    shape = tuple(item if item in CONST_OPERANDS else labels.setdefault(item, len(labels))
                  for item in pattern)
    return _simplify_shape(table, shape)


@lru_cache(maxsize=65536)
def _simplify_shape(table: int, shape: tuple) -> tuple[int, tuple[int, ...]]:
    keep = [i for i, item in enumerate(shape)
            if item not in CONST_OPERANDS and item not in shape[:i]]
    new_table = 0
    for j in range(1 << len(keep)):
        bits = {"0": 0, "1": 1, **{shape[k]: (j >> p) & 1 for p, k in enumerate(keep)}}
        index = sum(bits[item] << i for i, item in enumerate(shape))
        new_table |= ((table >> index) & 1) << j
    for p in reversed(range(len(keep))):
        if not depends_on(new_table, len(keep), p):
            new_table = cofactor(new_table, len(keep), p, 0)
            del keep[p]
    return new_table, tuple(keep)


# Expressions ---------------------------------------------------------------------------
# Verilog, C and numpy all spell bitwise logic with ~ & | ^, so one generator serves
# every backend: it returns a template with {0}, {1}, ... for the operands and None for
# a constant (the backend spells constants itself).

_TWO_INPUT_EXPR = {
    AND: "{0} & {1}", A_AND_NOT_B: "{0} & ~{1}", A: "{0}", NOT_A_AND_B: "~{0} & {1}",
    B: "{1}", XOR: "{0} ^ {1}", OR: "{0} | {1}", NOR: "~({0} | {1})", XNOR: "~({0} ^ {1})",
    NOT_B: "~{1}", B_IMPLIES_A: "{0} | ~{1}", NOT_A: "~{0}", A_IMPLIES_B: "~{0} | {1}",
    NAND: "~({0} & {1})",
}


@lru_cache(maxsize=65536)
def table_expression(table: int, arity: int) -> str | None:
    """A bitwise expression computing `table` over operands {0}..{arity-1}, or None if constant.

    It spells operand i exactly when the table depends on it (the C backend relies on
    that). Two-input gates get their natural one-operator form; wider tables the shortest
    of a Shannon (mux) and a positive or negative Davio (XOR) expansion on the last operand,
    chosen recursively: Davio shrinks XOR-rich tables, Shannon AND/OR-rich ones.
    """
    if table == 0 or table == full_mask(arity):
        return None
    if arity == 1:
        return "{0}" if table == IDENTITY else "~{0}"
    if arity == 2:
        return _TWO_INPUT_EXPR[table]
    last = arity - 1
    half = 1 << last  # the last operand splits the table into its low and high half
    low, high = table & ((1 << half) - 1), table >> half
    if low == high:
        return table_expression(low, last)
    return min(_expansions(low, high, last), key=len)


def _expansions(low: int, high: int, arity: int) -> list[str]:
    """Ways to write `sel ? high : low` where low/high are tables over `arity` operands."""
    sel = "{%d}" % arity
    ones = full_mask(arity)
    if low ^ high == ones:  # high == ~low: the selector just flips low
        inner = table_expression(low, arity)
        if inner is None:
            return [sel if low == 0 else "~" + sel]
        return [f"({sel} ^ {_wrap(inner)})"]
    lo, hi = table_expression(low, arity), table_expression(high, arity)
    diff = table_expression(low ^ high, arity)  # never constant here
    options = [
        f"({_wrap(lo)} ^ ({sel} & {_wrap(diff)}))" if lo else None,   # positive Davio
        f"({_wrap(hi)} ^ (~{sel} & {_wrap(diff)}))" if hi else None,  # negative Davio
    ]
    if lo is None:  # low constant: sel & hi, or ~sel | hi
        options.append(f"({sel} & {_wrap(hi)})" if low == 0 else f"(~{sel} | {_wrap(hi)})")
    elif hi is None:
        options.append(f"(~{sel} & {_wrap(lo)})" if high == 0 else f"({sel} | {_wrap(lo)})")
    else:
        options.append(f"(({sel} & {_wrap(hi)}) | (~{sel} & {_wrap(lo)}))")
    return [o for o in options if o is not None]


def _wrap(expression: str) -> str:
    """Parenthesize unless the expression is one (possibly negated) operand or already wrapped."""
    bare = expression.lstrip("~")
    if bare.startswith("{") and bare.endswith("}") and bare.count("{") == 1:
        return expression
    if expression.startswith("(") and _closes_at_end(expression):
        return expression
    return f"({expression})"


def _closes_at_end(expression: str) -> bool:
    depth = 0
    for i, char in enumerate(expression):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and i < len(expression) - 1:
            return False
    return True
