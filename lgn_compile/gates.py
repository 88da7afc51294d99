"""Gate encoding: truth tables, difflogic op ids, and Boolean expressions of tables.

One convention everywhere (DESIGN.md): a gate over operands (x0, ..., x(k-1)) is an int
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


@lru_cache(maxsize=4096)
def table_expression(table: int, arity: int) -> str | None:
    """A bitwise expression computing `table` over operands {0}..{arity-1}, or None if constant.

    Two-input gates get their natural one-operator form; wider tables a Shannon expansion
    on the last operand, which shares nothing but is exact and needs no temporaries.
    """
    if table == 0 or table == full_mask(arity):
        return None
    if arity == 1:
        return "{0}" if table == 0b10 else "~{0}"
    if arity == 2:
        return _TWO_INPUT_EXPR[table]
    last = arity - 1
    sel = "{%d}" % last
    low_table, high_table = cofactor(table, arity, last, 0), cofactor(table, arity, last, 1)
    if low_table == high_table:
        return table_expression(low_table, last)
    low, high = table_expression(low_table, last), table_expression(high_table, last)
    if low is None and high is None:  # one cofactor constant 0, the other constant 1
        return sel if high_table else "~" + sel
    if low is None:
        return f"({sel} & ({high}))" if low_table == 0 else f"(~{sel} | ({high}))"
    if high is None:
        return f"(~{sel} & ({low}))" if high_table == 0 else f"({sel} | ({low}))"
    return f"(({sel} & ({high})) | (~{sel} & ({low})))"
