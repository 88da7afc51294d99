"""Differentiable logic gate layers (difflogic's relaxation), GroupSum and the whole net.

A `LogicLayer` neuron reads two earlier outputs `(a, b)` (operand 0 and operand 1 of the
wiring buffer `indices`) and, while training, computes a softmax-weighted mix of the 16
real-valued two-input gates. Every such gate is multilinear, `c0 + c1*a + c2*b + c3*a*b`,
so the mix is too: the layer computes `softmax(logits) @ COEF` (16x4) once per step and
then one fused multiply-add per neuron, instead of evaluating 16 gates.

In eval mode (`module.eval()`) a layer computes its discretized gate exactly: the argmax
op's truth table looked up at the 0/1 inputs. `discretize()` returns that network in the
model-file encoding (DESIGN.md): operands [out, arity], truth tables [out, 2**arity] whose
entry j is the output for the assignment j = x0 + 2*x1 + ...

Parametrizations:
- "softmax16" (arity 2): 16 logits per neuron in difflogic's op order.
- "iwp" (input-wise, any arity 1..6): one logit per input assignment; the relaxed gate is
  the multilinear interpolation of sigmoid(logits), the discrete table is logits > 0.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lgn_compile.gates import MAX_ARITY, difflogic_op_to_table

PARAMETRIZATIONS = ("softmax16", "iwp")
CONNECTIONS = ("random",)
INITS = ("residual", "uniform")
RESIDUAL_OP = 3  # difflogic op "A": the gate that passes operand 0 through
DEFAULT_RESIDUAL_LOGIT = 5.0


def _op_tables() -> torch.Tensor:
    """uint8 [16, 4]: row o is difflogic op o's truth table, entry j = f at assignment j."""
    rows = []
    for op in range(16):
        table = difflogic_op_to_table(op)
        rows.append([(table >> j) & 1 for j in range(4)])
    return torch.tensor(rows, dtype=torch.uint8)


OP_TABLES = _op_tables()


def _op_coefficients() -> torch.Tensor:
    """float32 [16, 4]: op o computes COEF[o,0] + COEF[o,1]*a + COEF[o,2]*b + COEF[o,3]*a*b."""
    t = OP_TABLES.to(torch.float32)
    f00, f10, f01, f11 = t[:, 0], t[:, 1], t[:, 2], t[:, 3]
    return torch.stack([f00, f10 - f00, f01 - f00, f11 - f10 - f01 + f00], dim=1)


OP_COEF = _op_coefficients()
# table (as int, our encoding) -> difflogic op id, derived from the one conversion in gates.py
TABLE_TO_OP = torch.tensor([[difflogic_op_to_table(op) for op in range(16)].index(t)
                            for t in range(16)], dtype=torch.int64)


def random_connections(in_dim: int, out_dim: int, arity: int, seed: int) -> torch.Tensor:
    """int64 [arity, out_dim] wiring, difflogic-style: a shuffled cover of the inputs.

    Every input is used at least once when arity*out_dim >= in_dim. Seeded by its own
    torch.Generator, so the wiring does not depend on (or disturb) the global RNG.
    """
    gen = torch.Generator().manual_seed(seed)
    slots = torch.randperm(arity * out_dim, generator=gen) % in_dim
    slots = torch.randperm(in_dim, generator=gen)[slots]
    return slots.reshape(arity, out_dim).contiguous()


def _multilinear(weights: torch.Tensor, operands: list[torch.Tensor]) -> torch.Tensor:
    """Multilinear interpolation: weights [out, 2**k] (entry j at assignment j), operands
    k tensors [N, out] in [0, 1] -> [N, out]. Exact for 0/1 operands."""
    w = weights.unsqueeze(0)  # [1, out, 2**k]
    for x in operands:  # x0 is the least significant bit of j: pair entries (2m, 2m+1)
        low, high = w[..., 0::2], w[..., 1::2]
        w = low + x.unsqueeze(-1) * (high - low)
    return w.squeeze(-1)


class LogicLayer(nn.Module):
    """A layer of `out_dim` learned logic gates over the `in_dim` outputs of the layer before.

    Args:
        in_dim, out_dim: input and output widths.
        parametrization: "softmax16" (difflogic's 16 gates, arity 2) or "iwp" (input-wise:
            one logit per input assignment, any arity).
        connections: "random" (seeded, every input used when arity*out_dim >= in_dim).
        seed: seed of the wiring (and of the uniform init's small noise).
        init: "residual" puts a large logit on the pass-through gate A (operand 0), which
            makes deep nets start as near-identity and train much faster; "uniform" gives
            every gate about equal weight (difflogic's original init).
        arity: operands per gate; must be 2 for softmax16.
        residual_logit: the logit of gate A (softmax16) under residual init.
    """

    def __init__(self, in_dim: int, out_dim: int, parametrization: str = "softmax16",
                 connections: str = "random", seed: int = 0, init: str = "residual",
                 arity: int = 2, residual_logit: float = DEFAULT_RESIDUAL_LOGIT):
        super().__init__()
        if parametrization not in PARAMETRIZATIONS:
            raise ValueError(f"unknown parametrization {parametrization!r} "
                             f"(choose from {', '.join(PARAMETRIZATIONS)})")
        if connections not in CONNECTIONS:
            raise ValueError(f"unknown connections {connections!r} "
                             f"(choose from {', '.join(CONNECTIONS)})")
        if init not in INITS:
            raise ValueError(f"unknown init {init!r} (choose from {', '.join(INITS)})")
        if not 1 <= arity <= MAX_ARITY or (parametrization == "softmax16" and arity != 2):
            raise ValueError(f"arity {arity} is not supported by {parametrization}")
        if in_dim < 1 or out_dim < 1:
            raise ValueError(f"layer dimensions must be positive, got {in_dim} -> {out_dim}")
        self.in_dim, self.out_dim, self.arity = in_dim, out_dim, arity
        self.parametrization, self.connections = parametrization, connections
        self.seed, self.init, self.residual_logit = seed, init, residual_logit
        width = 16 if parametrization == "softmax16" else 1 << arity
        self.logits = nn.Parameter(torch.empty(out_dim, width))
        self.register_buffer("indices", torch.zeros(arity, out_dim, dtype=torch.int64))
        self.register_buffer("op_coef", OP_COEF.clone(), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Fresh wiring from `seed` and fresh logits from `init` (deterministic)."""
        with torch.no_grad():
            self.indices.copy_(random_connections(self.in_dim, self.out_dim, self.arity,
                                                  self.seed))
            gen = torch.Generator().manual_seed(self.seed + 1_000_003)
            noise = torch.randn(self.logits.shape, generator=gen)
            if self.parametrization == "softmax16":
                if self.init == "residual":
                    self.logits.zero_()
                    self.logits[:, RESIDUAL_OP] = self.residual_logit
                else:
                    self.logits.copy_(noise)
            else:
                if self.init == "residual":  # table of x0: entry j is bit 0 of j
                    ident = torch.tensor([(j & 1) * 2.0 - 1.0 for j in range(1 << self.arity)])
                    self.logits.copy_(ident.expand_as(self.logits) * self.residual_logit / 2)
                else:
                    self.logits.copy_(noise * 0.1)

    def extra_repr(self) -> str:
        return (f"in_dim={self.in_dim}, out_dim={self.out_dim}, arity={self.arity}, "
                f"parametrization={self.parametrization!r}, connections={self.connections!r}, "
                f"seed={self.seed}, init={self.init!r}")

    # forward ------------------------------------------------------------------------------
    def _operands(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.shape[-1] != self.in_dim:
            raise ValueError(f"expected {self.in_dim} inputs, got shape {tuple(x.shape)}")
        return [x.index_select(-1, self.indices[i]) for i in range(self.arity)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, in_dim] -> [N, out_dim]. Training: relaxed gates on values in [0, 1].
        Eval mode: the discrete gates on bits (an input > 0.5 counts as 1)."""
        if not self.training:
            return self.forward_discrete(x).to(x.dtype if x.dtype.is_floating_point
                                               else torch.float32)
        ops = self._operands(x)
        if self.parametrization == "softmax16":
            coef = torch.softmax(self.logits, dim=-1) @ self.op_coef.to(self.logits.dtype)
            a, b = ops
            return coef[:, 0] + coef[:, 1] * a + (coef[:, 2] + coef[:, 3] * a) * b
        return _multilinear(torch.sigmoid(self.logits), ops)

    def forward_discrete(self, x: torch.Tensor) -> torch.Tensor:
        """Bits [N, in_dim] (any dtype; > 0.5 is 1) -> uint8 bits [N, out_dim], exactly the
        discretized gates: entry `a + 2b (+ 4c ...)` of each gate's truth table."""
        bits = x > 0.5 if x.dtype.is_floating_point else x != 0
        assignment = torch.zeros((x.shape[0], self.out_dim), dtype=torch.int64, device=x.device)
        for i, operand in enumerate(self._operands(bits)):
            assignment += operand.to(torch.int64) << i
        tables = self.discrete_tables().to(x.device)
        width = tables.shape[1]
        offsets = torch.arange(self.out_dim, device=x.device) * width
        return tables.reshape(-1)[assignment + offsets]

    # discretization -----------------------------------------------------------------------
    def discrete_tables(self) -> torch.Tensor:
        """uint8 [out, 2**arity]: each gate's truth table (entry j = output at assignment j)."""
        with torch.no_grad():
            if self.parametrization == "softmax16":
                return OP_TABLES.to(self.logits.device)[self.logits.argmax(dim=-1)]
            return (self.logits > 0).to(torch.uint8)

    def discretize(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(operands int64 [out, arity], tables uint8 [out, 2**arity]) on the CPU, in the
        model-file encoding (DESIGN.md)."""
        return (self.indices.t().contiguous().cpu().to(torch.int64),
                self.discrete_tables().cpu().contiguous())

    def set_tables(self, tables, operands=None, confidence: float = 10.0) -> None:
        """Make this layer's discrete gates exactly `tables` (uint8 [out, 2**arity]) and,
        when given, its wiring `operands` (int [out, arity])."""
        tables = torch.as_tensor(np.asarray(tables), dtype=torch.int64)
        if tuple(tables.shape) != (self.out_dim, 1 << self.arity):
            raise ValueError(f"tables must be [{self.out_dim}, {1 << self.arity}], got "
                             f"{tuple(tables.shape)}")
        with torch.no_grad():
            if operands is not None:
                operands = torch.as_tensor(np.asarray(operands), dtype=torch.int64)
                if tuple(operands.shape) != (self.out_dim, self.arity):
                    raise ValueError(f"operands must be [{self.out_dim}, {self.arity}], got "
                                     f"{tuple(operands.shape)}")
                if operands.numel() and (operands.min() < 0 or operands.max() >= self.in_dim):
                    raise ValueError(f"operand out of range [0, {self.in_dim})")
                self.indices.copy_(operands.t())
            if self.parametrization == "softmax16":
                ints = (tables << torch.arange(4)).sum(dim=1)
                self.logits.zero_()
                self.logits.scatter_(1, TABLE_TO_OP[ints].unsqueeze(1).to(self.logits.device),
                                     confidence)
            else:
                self.logits.copy_((tables.to(self.logits.dtype) * 2 - 1) * confidence)


class GroupSum(nn.Module):
    """Class scores: the last layer's outputs split into `num_classes` contiguous equal
    groups, each summed and divided by `tau`."""

    def __init__(self, num_classes: int, tau: float = 1.0):
        super().__init__()
        if num_classes < 1 or not tau > 0:
            raise ValueError(f"need num_classes >= 1 and tau > 0, got {num_classes}, {tau}")
        self.num_classes, self.tau = num_classes, float(tau)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % self.num_classes:
            raise ValueError(f"{x.shape[-1]} outputs do not split into {self.num_classes} "
                             "equal groups")
        return x.reshape(*x.shape[:-1], self.num_classes, -1).sum(-1) / self.tau

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, tau={self.tau}"


class LogicNet(nn.Module):
    """Logic layers of widths `layer_sizes` over `num_inputs` bits, then GroupSum.

    Layer i is wired and initialized with seed `seed * 1000 + i`. `forward(bits)` gives
    class scores (relaxed in train mode, popcount/tau of the discrete gates in eval mode);
    `discrete_scores(bits)` gives the integer popcounts of the discretized network.
    """

    def __init__(self, num_inputs: int, layer_sizes, num_classes: int, tau: float = 1.0,
                 parametrization: str = "softmax16", connections: str = "random",
                 seed: int = 0, init: str = "residual", arity: int = 2,
                 residual_logit: float = DEFAULT_RESIDUAL_LOGIT):
        super().__init__()
        layer_sizes = [int(s) for s in layer_sizes]
        if not layer_sizes:
            raise ValueError("a LogicNet needs at least one layer")
        dims = [num_inputs] + layer_sizes
        layers = [LogicLayer(dims[i], dims[i + 1], parametrization, connections,
                             seed=seed * 1000 + i, init=init, arity=arity,
                             residual_logit=residual_logit)
                  for i in range(len(layer_sizes))]
        self._setup(num_inputs, layers, num_classes, tau)

    @classmethod
    def from_layers(cls, num_inputs: int, layers, num_classes: int,
                    tau: float = 1.0) -> "LogicNet":
        """A net of given LogicLayers (e.g. of different arities), checked to chain."""
        net = cls.__new__(cls)
        nn.Module.__init__(net)
        net._setup(num_inputs, list(layers), num_classes, tau)
        return net

    def _setup(self, num_inputs: int, layers: list, num_classes: int, tau: float) -> None:
        if not layers:
            raise ValueError("a LogicNet needs at least one layer")
        in_dim = num_inputs
        for i, layer in enumerate(layers):
            if layer.in_dim != in_dim:
                raise ValueError(f"layer {i} reads {layer.in_dim} inputs, but {in_dim} come in")
            in_dim = layer.out_dim
        if in_dim % num_classes:
            raise ValueError(f"the last layer ({in_dim} gates) must divide into "
                             f"{num_classes} equal class groups")
        self.num_inputs, self.num_classes = num_inputs, num_classes
        self.layers = nn.ModuleList(layers)
        self.group_sum = GroupSum(num_classes, tau)

    @property
    def layer_sizes(self) -> list[int]:
        return [layer.out_dim for layer in self.layers]

    @property
    def tau(self) -> float:
        return self.group_sum.tau

    @property
    def num_gates(self) -> int:
        return sum(self.layer_sizes)

    def forward(self, bits: torch.Tensor) -> torch.Tensor:
        x = bits if bits.dtype.is_floating_point else bits.to(torch.float32)
        for layer in self.layers:
            x = layer(x)
        return self.group_sum(x)

    @torch.no_grad()
    def discrete_outputs(self, bits) -> torch.Tensor:
        """uint8 [N, last layer width]: the output bits of the discretized network."""
        x = _as_tensor(bits, self._device())
        for layer in self.layers:
            x = layer.forward_discrete(x)
        return x

    @torch.no_grad()
    def discrete_scores(self, bits):
        """int64 popcounts [N, num_classes] of the discretized network (no tau).

        `bits` is [N, num_inputs] of 0/1 (numpy or torch); the result is a numpy array for
        numpy input and a torch tensor (on the net's device) for tensor input."""
        out = self.discrete_outputs(bits).to(torch.int64)
        scores = out.reshape(out.shape[0], self.num_classes, -1).sum(-1)
        return scores if isinstance(bits, torch.Tensor) else scores.cpu().numpy()

    def discretize(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per layer (operands int64 [out, arity], tables uint8 [out, 2**arity])."""
        return [layer.discretize() for layer in self.layers]

    def _device(self) -> torch.device:
        return self.layers[0].indices.device


def _as_tensor(bits, device) -> torch.Tensor:
    if isinstance(bits, torch.Tensor):
        return bits.to(device)
    array = np.asarray(bits)
    if array.ndim != 2:
        raise ValueError(f"bits must be 2-D [N, num_inputs], got shape {array.shape}")
    return torch.from_numpy(np.ascontiguousarray(array)).to(device)


__all__ = ["LogicLayer", "GroupSum", "LogicNet", "OP_TABLES", "OP_COEF", "random_connections",
           "PARAMETRIZATIONS", "CONNECTIONS", "INITS"]
