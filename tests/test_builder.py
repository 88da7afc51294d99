"""NetBuilder (mockturtle-style nets in a few lines), and public behaviour of the passes on
nets it builds: each test's net is the claim it checks."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lgn_compile import evaluate, gates, ir
from lgn_compile.builder import NetBuilder
from lgn_compile.passes import PRESETS, optimize_model


def all_bits(n):
    return np.array(list(itertools.product([0, 1], repeat=n)), dtype=np.uint8)[:, ::-1]


def test_built_net_computes_what_was_built():
    b = NetBuilder(3)
    x, y, z = b.inputs
    t = b.create_nand(x, y)
    b.create_po(b.create_xor(t, z))          # depth 2
    b.create_po(z)                           # an input, carried to the last layer
    b.create_po(b.create_gate(0b10010110, x, y, z))  # 3-input parity beside 2-input gates
    b.create_po(b.create_const(1))
    bits = all_bits(3)
    scores = evaluate.scores(ir.from_model(b.model(num_classes=4)), bits)
    x, y, z = bits.T
    assert scores.tolist() == np.stack([(1 - (x & y)) ^ z, z, x ^ y ^ z,
                                        np.ones_like(x)], axis=1).tolist()


@pytest.mark.parametrize("level", sorted(PRESETS))
def test_passes_remove_what_the_builder_added(level):
    """x AND NOT x is constant 0 and a double inverter is a wire: -O1 and up fold them."""
    b = NetBuilder(2)
    x, y = b.inputs
    b.create_po(b.create_and(x, b.create_not(x)))
    b.create_po(b.create_not(b.create_not(y)))
    model = b.model(num_classes=2)
    optimized, _ = optimize_model(model, PRESETS[level])
    assert np.array_equal(evaluate.scores(optimized, all_bits(2)),
                          evaluate.scores(ir.from_model(model), all_bits(2)))
    if level == 1:  # the carried-forward identity gates are gone, the logic stays
        assert ir.stats(optimized)["gates"] == 4 < model.num_gates
    if level == 2:  # collapse and not_absorb see AND(x, NOT x) = 0 and NOT NOT y = y
        assert ir.stats(optimized)["gates"] == 0


def test_builder_refuses_what_a_model_cannot_hold():
    b = NetBuilder(2)
    with pytest.raises(ValueError, match="unknown signal"):
        b.create_and(0, 7)
    with pytest.raises(ValueError, match="operands"):
        b.create_gate(gates.AND, *([0] * 7))
    b.create_po(b.create_or(0, 1))
    with pytest.raises(ValueError, match="equal class groups"):
        b.model_dict(num_classes=2)
