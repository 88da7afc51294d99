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


def _random_tables(arity, count, seed=0):
    rng = np.random.default_rng(seed)
    return [int.from_bytes(rng.bytes(8), "little") & gates.full_mask(arity) for _ in range(count)]


@pytest.mark.parametrize("arity", [3, 4, 5, 6])
def test_wide_table_expressions_are_exact_and_spell_only_what_they_read(arity):
    for table in _random_tables(arity, 60, seed=arity) + [0x96, 0x6996, 0x8000, 0xFFFE]:
        table &= gates.full_mask(arity)
        expression = gates.table_expression(table, arity)
        if expression is None:
            continue
        for j in range(1 << arity):
            assignment = tuple((j >> i) & 1 for i in range(arity))
            assert _eval_expression(expression, arity, assignment) == (table >> j) & 1
        for i in range(arity):
            assert ("{%d}" % i in expression) == gates.depends_on(table, arity, i)


def test_six_input_expressions_stay_short():
    # The plain Shannon expansion averaged ~680 characters on random 6-input tables.
    lengths = [len(gates.table_expression(t, 6)) for t in _random_tables(6, 200)]
    assert sum(lengths) / len(lengths) < 400
    assert gates.table_expression(0x6996, 4).count("^") == 3


@pytest.mark.parametrize("arity", [1, 2, 3])
def test_negate_and_permute_operands_match_direct_evaluation(arity):
    for table in range(1 << (1 << arity)):
        for order in itertools.permutations(range(arity)):
            permuted = gates.permute_operands(table, arity, order)
            for bits in itertools.product((0, 1), repeat=arity):
                old_bits = [0] * arity
                for new_position, old_position in enumerate(order):
                    old_bits[old_position] = bits[new_position]
                assert gates.evaluate_table(permuted, bits) == \
                    gates.evaluate_table(table, tuple(old_bits))
        for operand in range(arity):
            negated = gates.negate_operand(table, arity, operand)
            for bits in itertools.product((0, 1), repeat=arity):
                flipped = tuple(b ^ (i == operand) for i, b in enumerate(bits))
                assert gates.evaluate_table(negated, bits) == gates.evaluate_table(table, flipped)


@pytest.mark.parametrize("arity", [2, 3])
def test_simplify_folds_constants_duplicates_and_ignored_operands(arity):
    signals = ["0", "1", 10, 11, 12]
    for table in range(1 << (1 << arity)):
        for pattern in itertools.product(signals, repeat=arity):
            new_table, keep = gates.simplify(table, pattern)
            kept = [pattern[i] for i in keep]
            assert len(set(kept)) == len(kept) and not set(kept) & {"0", "1"}
            for values in itertools.product((0, 1), repeat=3):
                env = {"0": 0, "1": 1, 10: values[0], 11: values[1], 12: values[2]}
                assert gates.evaluate_table(new_table, tuple(env[s] for s in kept)) == \
                    gates.evaluate_table(table, tuple(env[s] for s in pattern))
            for p in range(len(keep)):
                assert gates.depends_on(new_table, len(keep), p)
