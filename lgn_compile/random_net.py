"""Random networks in the model-file format, for tests, fuzzing and benchmarks.

They cover what trained nets rarely show: every truth table (constants included), every
arity 2..6, constant, dead and duplicate gates, gates reading one operand twice, 1-layer
and deep nets, odd input counts, one-bit class groups, one class, thermometer encoders.

    random_model_dict(seed, num_inputs, layer_sizes, num_classes, arity)  # a fixed shape
    fuzz_model_dict(seed)                        # a seeded random shape, features and all
    model_dicts()                                # the same generator as a hypothesis strategy

`fuzz_model_dict` and `model_dicts` are one generator (`generate`) fed by two sources of
choices: a seeded random stream, or hypothesis' `draw`. The seeded stream records its
choices, so a failing net can be shrunk by editing that record (`shrink`), the way
hypothesis shrinks its own examples.
"""

from __future__ import annotations

import random
from typing import Callable, Protocol

import numpy as np

from lgn_compile.gates import MAX_ARITY, full_mask
from lgn_compile.model_file import FORMAT, VERSION

MAX_INPUTS = 40      # fuzz nets stay small: many of them per C build and simulation
MAX_WIDTH = 48
MAX_DEEP_LAYERS = 16


def model_dict(num_inputs: int, num_classes: int, operands: list[np.ndarray],
               tables: list[np.ndarray], name: str = "random_net",
               thresholds: np.ndarray | None = None, meta: dict | None = None) -> dict:
    """A model-file dict from per-layer operands int64 [out, k] and 0/1 tables [out, 2**k]."""
    import torch

    layers, in_dim = [], num_inputs
    for ops in operands:
        layers.append({"type": "logic", "in_dim": in_dim, "out_dim": len(ops),
                       "arity": int(ops.shape[1]), "parametrization": "random",
                       "connections": "random"})
        in_dim = len(ops)
    state_dict, encoder = {}, None
    if thresholds is not None:
        state_dict["encoder.thresholds"] = torch.tensor(thresholds, dtype=torch.float32)
        encoder = {"type": "thermometer", "num_features": int(thresholds.shape[0]),
                   "num_thresholds": int(thresholds.shape[1])}
    return {
        "format": FORMAT, "version": VERSION,
        "config": {"name": name, "num_inputs": num_inputs, "num_classes": num_classes,
                   "tau": 1.0, "layers": layers, "encoder": encoder},
        "state_dict": state_dict,
        "discrete": {
            "operands": [torch.from_numpy(np.asarray(o, dtype=np.int64)) for o in operands],
            "tables": [torch.from_numpy(np.asarray(t, dtype=np.uint8)) for t in tables]},
        "meta": {"dataset": "random", "created_by": "lgn_compile.random_net", **(meta or {})},
    }


def random_model_dict(seed: int, num_inputs: int = 13, layer_sizes=(24, 20),
                      num_classes: int = 4, arity: int = 2, name: str = "random_net") -> dict:
    """Uniformly random wiring and tables of a fixed shape (last layer size divisible by
    num_classes), accepted by `save_model`."""
    rng = np.random.default_rng(seed)
    operands, tables, in_dim = [], [], num_inputs
    for out_dim in layer_sizes:
        operands.append(rng.integers(0, in_dim, size=(out_dim, arity)))
        tables.append(rng.integers(0, 2, size=(out_dim, 1 << arity), dtype=np.uint8))
        in_dim = out_dim
    return model_dict(num_inputs, num_classes, operands, tables, name, meta={"seed": seed})


def random_input_bits(seed: int, num_samples: int, num_inputs: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, size=(num_samples, num_inputs),
                                                dtype=np.uint8)


class Choices(Protocol):
    """Where the generator's decisions come from."""

    def integer(self, low: int, high: int) -> int:
        """An int in [low, high]; shrinking moves it towards `low`."""


def flag(choices: Choices, probability: float) -> bool:
    """True with `probability`; shrinks to False."""
    return choices.integer(0, 999) >= round(1000 * (1 - probability))


def generate(choices: Choices, name: str = "fuzz_net") -> dict:
    """A random network's model dict, every decision taken from `choices`.

    Smaller choices give simpler nets (fewer inputs, layers and gates, arity 2, constant-0
    tables, operand 0), so shrinking the choices shrinks the net.
    """
    num_inputs = choices.integer(1, MAX_INPUTS)
    thresholds = None
    if flag(choices, 0.15):  # a thermometer encoder: num_inputs = features * thresholds
        num_features, num_thresholds = choices.integer(1, 8), choices.integer(1, 4)
        num_inputs = num_features * num_thresholds
        thresholds = np.sort(np.array(
            [[choices.integer(0, 64) / 4 - 2 for _ in range(num_thresholds)]
             for _ in range(num_features)], dtype=np.float32), axis=1)
    deep = flag(choices, 0.1)
    depth = choices.integer(5, MAX_DEEP_LAYERS) if deep else choices.integer(1, 4)
    num_classes = choices.integer(1, 6)
    group_size = 1 if flag(choices, 0.3) else choices.integer(1, 8)
    operands, tables, in_dim = [], [], num_inputs
    for layer in range(depth):
        arity = 2 + (choices.integer(1, MAX_ARITY - 2) if flag(choices, 0.5) else 0)
        if layer == depth - 1:
            out_dim = num_classes * group_size
        else:
            out_dim = choices.integer(1, 12 if deep else MAX_WIDTH)
        reach = choices.integer(0, min(3, in_dim - 1)) if flag(choices, 0.15) else in_dim - 1
        layer_ops = np.zeros((out_dim, arity), dtype=np.int64)
        layer_tables = np.zeros((out_dim, 1 << arity), dtype=np.uint8)
        for gate in range(out_dim):
            if gate and flag(choices, 0.05):  # a duplicate of an earlier gate
                twin = choices.integer(0, gate - 1)
                layer_ops[gate], layer_tables[gate] = layer_ops[twin], layer_tables[twin]
                continue
            layer_ops[gate] = _gate_operands(choices, arity, reach)
            table = _gate_table(choices, arity)
            layer_tables[gate] = [(table >> j) & 1 for j in range(1 << arity)]
        operands.append(layer_ops)
        tables.append(layer_tables)
        in_dim = out_dim
    return model_dict(num_inputs, num_classes, operands, tables, name, thresholds)


def _gate_operands(choices: Choices, arity: int, reach: int) -> list[int]:
    ops = [choices.integer(0, reach) for _ in range(arity)]
    if flag(choices, 0.1):  # one wire read twice
        ops[choices.integer(1, arity - 1)] = ops[0]
    return ops


def _gate_table(choices: Choices, arity: int) -> int:
    """Any table, with the degenerate ones (constants, a wire or its inverse) made common."""
    mask = full_mask(arity)
    kind = choices.integer(0, 9)
    if kind == 0:
        return 0
    if kind == 1:
        return mask
    if kind == 2:  # operand i passed through, or inverted
        wire = _wire_table(arity, choices.integer(0, arity - 1))
        return wire if flag(choices, 0.5) else mask ^ wire
    return choices.integer(0, mask)


def _wire_table(arity: int, operand: int) -> int:
    return sum(1 << j for j in range(1 << arity) if (j >> operand) & 1)


class SeededChoices:
    """Choices from a seeded random stream, recorded as offsets above each `low`."""

    def __init__(self, seed: int):
        self._random = random.Random(seed)
        self.record: list[int] = []

    def integer(self, low: int, high: int) -> int:
        offset = self._random.randint(0, high - low)
        self.record.append(offset)
        return low + offset


class ReplayedChoices:
    """Choices replayed from a record of offsets, clamped into range, `low` once it runs out."""

    def __init__(self, record: list[int]):
        self._record = record
        self._next = 0

    def integer(self, low: int, high: int) -> int:
        offset = self._record[self._next] if self._next < len(self._record) else 0
        self._next += 1
        return low + min(offset, high - low)


class _DrawnChoices:
    def __init__(self, draw):
        self._draw = draw

    def integer(self, low: int, high: int) -> int:
        from hypothesis import strategies as st

        return self._draw(st.integers(low, high))


def fuzz_model_dict(seed: int, name: str = "fuzz_net") -> tuple[dict, list[int]]:
    """The seeded random net and the record of choices that made it (for `shrink`)."""
    choices = SeededChoices(seed)
    return generate(choices, name), choices.record


def model_dicts(name: str = "fuzz_net"):
    """A hypothesis strategy of model dicts, from the same generator as `fuzz_model_dict`."""
    from hypothesis import strategies as st

    return st.composite(lambda draw: generate(_DrawnChoices(draw), name))()


def shrink(record: list[int], fails: Callable[[dict], bool], name: str = "fuzz_net",
           budget: int = 300) -> dict:
    """The simplest net, by greedy edits of the choice record, for which `fails` stays true.

    Tries cutting the record short, then zeroing and halving each choice, until a whole
    sweep changes nothing or `budget` calls of `fails` are spent. `fails(generate(record))`
    must be true to begin with.
    """
    calls = 0

    def still_fails(candidate: list[int]) -> bool:
        nonlocal calls
        calls += 1
        return fails(generate(ReplayedChoices(candidate), name))

    record = list(record)
    improved = True
    while improved and calls < budget:
        improved = False
        cut = len(record) // 2
        while cut and calls < budget:  # shorter records: later choices at their minimum
            if still_fails(record[:len(record) - cut]):
                record, improved = record[:len(record) - cut], True
            else:
                cut //= 2
        for i in range(len(record)):
            for smaller in (0, record[i] // 2):
                if calls >= budget or smaller >= record[i]:
                    continue
                candidate = record[:i] + [smaller] + record[i + 1:]
                if still_fails(candidate):
                    record, improved = candidate, True
                    break
    return generate(ReplayedChoices(record), name)
