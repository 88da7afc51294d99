"""Build a small network gate by gate, as mockturtle does, and get its model-file dict.

    b = NetBuilder(num_inputs=2)
    a, c = b.inputs
    b.create_po(b.create_nand(a, b.create_not(c)))
    model = b.model()            # a validated Model; b.model_dict() for the dict

Meant for tests and examples: a net in three lines instead of operand and table tensors.
A model file is layered (layer i reads only layer i-1), so the builder puts each gate one
layer after its deepest operand and carries shallower operands, and every output, forward
through identity gates (which -O1 removes again). A layer's gates share one arity: a gate
with fewer operands gets its first operand repeated and a table that ignores the extras.
"""

from __future__ import annotations

import numpy as np

from lgn_compile import gates
from lgn_compile.model_file import Model, model_from_dict
from lgn_compile.random_net import model_dict


class NetBuilder:
    """Signals are ints: 0..num_inputs-1 are the inputs, gates get the next ids."""

    def __init__(self, num_inputs: int, name: str = "built_net"):
        self.num_inputs, self.name = num_inputs, name
        self.inputs = list(range(num_inputs))
        self._depth = {i: 0 for i in self.inputs}
        self._gates: dict[int, tuple[int, tuple[int, ...]]] = {}  # signal -> (table, operands)
        self._outputs: list[int] = []

    def create_gate(self, table: int, *operands: int) -> int:
        """A gate computing `table` (docs/DESIGN.md encoding) of `operands`."""
        if not 1 <= len(operands) <= gates.MAX_ARITY or not 0 <= table < 1 << (1 << len(operands)):
            raise ValueError(f"a gate takes 1..{gates.MAX_ARITY} operands and a table of "
                             f"2**2**k bits, not {len(operands)} operands and {table:#x}")
        unknown = [op for op in operands if op not in self._depth]
        if unknown:
            raise ValueError(f"unknown signal {unknown[0]}")
        signal = len(self._depth)
        self._depth[signal] = 1 + max(self._depth[op] for op in operands)
        self._gates[signal] = (table, tuple(operands))
        return signal

    def create_and(self, a: int, b: int) -> int:
        return self.create_gate(gates.AND, a, b)

    def create_or(self, a: int, b: int) -> int:
        return self.create_gate(gates.OR, a, b)

    def create_xor(self, a: int, b: int) -> int:
        return self.create_gate(gates.XOR, a, b)

    def create_nand(self, a: int, b: int) -> int:
        return self.create_gate(gates.NAND, a, b)

    def create_nor(self, a: int, b: int) -> int:
        return self.create_gate(gates.NOR, a, b)

    def create_not(self, a: int) -> int:
        return self.create_gate(gates.INVERTER, a)

    def create_buf(self, a: int) -> int:
        return self.create_gate(gates.IDENTITY, a)

    def create_const(self, value: int) -> int:
        """A constant: a 1-input gate whose table ignores its operand (input 0)."""
        return self.create_gate(0b11 if value else 0b00, self.inputs[0])

    def create_po(self, signal: int) -> None:
        """The next output bit (outputs form `num_classes` equal groups, in order)."""
        if signal not in self._depth:
            raise ValueError(f"unknown signal {signal}")
        self._outputs.append(signal)

    def model_dict(self, num_classes: int = 1) -> dict:
        """The model-file dict (accepted by `save_model`) of the net built so far."""
        if not self._outputs or len(self._outputs) % num_classes:
            raise ValueError(f"{len(self._outputs)} outputs do not split into {num_classes} "
                             "equal class groups")
        last = max(1, *(self._depth[s] for s in self._outputs))
        layers: list[list[tuple[int, tuple[int, ...]]]] = [[] for _ in range(last)]
        slot: dict[tuple[int, int], int] = {(i, 0): i for i in self.inputs}  # (signal, layer)

        def at(signal: int, layer: int) -> int:
            """The position of `signal` in `layer`, carried forward by identity gates."""
            if (signal, layer) not in slot:
                layers[layer - 1].append(gate_at(signal, layer))
                slot[signal, layer] = len(layers[layer - 1]) - 1
            return slot[signal, layer]

        def gate_at(signal: int, layer: int) -> tuple[int, tuple[int, ...]]:
            if self._depth[signal] == layer:
                table, ops = self._gates[signal]
                return table, tuple(at(op, layer - 1) for op in ops)
            return gates.IDENTITY, (at(signal, layer - 1),)

        # the output layer: exactly one gate per output bit, in output order
        layers[last - 1] = [gate_at(s, last) for s in self._outputs]
        operands, tables = [], []
        for layer in layers:
            arity = max(len(ops) for _, ops in layer)
            operands.append(np.array([ops + (ops[0],) * (arity - len(ops)) for _, ops in layer]))
            tables.append(np.array([[(table >> (j % (1 << len(ops)))) & 1
                                     for j in range(1 << arity)] for table, ops in layer],
                                   dtype=np.uint8))
        return model_dict(self.num_inputs, num_classes, operands, tables, self.name,
                          meta={"dataset": "built", "created_by": "lgn_compile.builder"})

    def model(self, num_classes: int = 1) -> Model:
        return model_from_dict(self.model_dict(num_classes))
