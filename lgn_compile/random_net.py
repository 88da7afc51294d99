"""Seeded random networks in the model-file format, for tests, fuzzing and benchmarks.

They cover what trained nets rarely show: every truth table (constants included), wide
gates, unused gates, duplicated wiring, odd input counts and one-bit groups.
"""

from __future__ import annotations

import numpy as np

from lgn_compile.model_file import FORMAT, VERSION


def random_model_dict(seed: int, num_inputs: int = 13, layer_sizes=(24, 20),
                      num_classes: int = 4, arity: int = 2, name: str = "random_net") -> dict:
    """A model dict that `save_model` accepts; the last layer size must divide by num_classes."""
    import torch

    rng = np.random.default_rng(seed)
    operands, tables, layers = [], [], []
    in_dim = num_inputs
    for out_dim in layer_sizes:
        operands.append(torch.from_numpy(rng.integers(0, in_dim, size=(out_dim, arity))))
        tables.append(torch.from_numpy(rng.integers(0, 2, size=(out_dim, 1 << arity),
                                                    dtype=np.uint8)))
        layers.append({"type": "logic", "in_dim": in_dim, "out_dim": out_dim, "arity": arity,
                       "parametrization": "random", "connections": "random"})
        in_dim = out_dim
    return {
        "format": FORMAT, "version": VERSION,
        "config": {"name": name, "num_inputs": num_inputs, "num_classes": num_classes,
                   "tau": 1.0, "layers": layers, "encoder": None},
        "state_dict": {},
        "discrete": {"operands": operands, "tables": tables},
        "meta": {"dataset": "random", "seed": seed, "created_by": "lgn_compile.random_net"},
    }


def random_input_bits(seed: int, num_samples: int, num_inputs: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, size=(num_samples, num_inputs),
                                                dtype=np.uint8)
