"""The gate encoding: difflogic's op order, cofactors and the expression generator."""

import itertools

import numpy as np
import pytest

from lgn_compile import gates

# difflogic's published definitions (difflogic/functional.py bin_op), on 0/1 ints.
DIFFLOGIC_DEFINITIONS = [
    lambda a, b: 0, lambda a, b: a & b, lambda a, b: a & (1 - b), lambda a, b: a,
    lambda a, b: (1 - a) & b, lambda a, b: b, lambda a, b: a ^ b, lambda a, b: a | b,
    lambda a, b: 1 - (a | b), lambda a, b: 1 - (a ^ b), lambda a, b: 1 - b,
    lambda a, b: a | (1 - b), lambda a, b: 1 - a, lambda a, b: (1 - a) | b,
    lambda a, b: 1 - (a & b), lambda a, b: 1,
]


@pytest.mark.parametrize("op_id", range(16))
def test_difflogic_conversion_matches_published_definitions(op_id):
    table = gates.difflogic_op_to_table(op_id)
    for a, b in itertools.product((0, 1), repeat=2):
        assert gates.evaluate_table(table, (a, b)) == DIFFLOGIC_DEFINITIONS[op_id](a, b)
    assert gates.table_to_difflogic_op(table) == op_id


def test_named_tables_follow_design_encoding():
    assert (gates.AND, gates.OR, gates.XOR, gates.NAND, gates.A, gates.B) == (8, 14, 6, 7, 10, 12)
    assert gates.difflogic_op_to_table(1) == gates.AND


def _eval_expression(template, arity, assignment):
    """Evaluate an expression template on 1-bit Python ints (masking ~ to one bit)."""
    env = {f"v{i}": bit for i, bit in enumerate(assignment)}
    code = template.format(*(f"v{i}" for i in range(arity)))
    return eval(code, {}, env) & 1


@pytest.mark.parametrize("arity", [1, 2, 3, 4])
def test_table_expression_is_exact_for_every_table(arity):
    rng = np.random.default_rng(arity)
    tables = range(1 << (1 << arity)) if arity <= 3 else rng.integers(0, 1 << 16, 300).tolist()
    for table in tables:
        expression = gates.table_expression(int(table), arity)
        for assignment in itertools.product((0, 1), repeat=arity):
            expected = gates.evaluate_table(int(table), assignment[::-1][::-1])
            if expression is None:
                assert table in (0, gates.full_mask(arity))
                assert expected == (table & 1)
            else:
                assert _eval_expression(expression, arity, assignment) == expected


def test_six_input_tables_use_all_64_bits():
    rng = np.random.default_rng(0)
    for _ in range(20):
        table = int(rng.integers(0, 1 << 62)) << 2 | 0b11
        expression = gates.table_expression(table, 6)
        for j in rng.integers(0, 64, 16):
            assignment = tuple((int(j) >> i) & 1 for i in range(6))
            assert _eval_expression(expression, 6, assignment) == (table >> int(j)) & 1


def test_cofactor_and_dependence():
    # AND with b fixed to 1 is the identity of a; with b fixed to 0 it is constant 0.
    assert gates.cofactor(gates.AND, 2, 1, 1) == 0b10
    assert gates.cofactor(gates.AND, 2, 1, 0) == 0
    assert gates.depends_on(gates.A, 2, 0) and not gates.depends_on(gates.A, 2, 1)
    with pytest.raises(ValueError):
        gates.difflogic_op_to_table(16)
