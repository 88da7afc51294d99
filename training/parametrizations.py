"""How a logic neuron's raw parameters become a relaxed truth table, a sample, and a gate.

Every parametrization maps a neuron's raw parameters `theta` to *truth-table weights*
`w` [out, 2**arity] in [0, 1]: entry j is the (soft) output at input assignment
j = x0 + 2*x1 + ... (docs/DESIGN.md encoding). The layer then interpolates `w` multilinearly
over its real-valued operands, so both parametrizations share one forward.

- `Softmax16` (difflogic, arity 2): theta is 16 logits in difflogic's op order; w is the
  softmax-weighted mix of the 16 ops' truth tables; the gate is the argmax op.
- `InputWise` (Light DLGN's IWP, arity 1..6): theta is one angle per input assignment;
  w = 0.5 + 0.5*sin(theta) (default) or sigmoid(theta); the gate's bit j is w_j >= 0.5.

Sampling (Mind the Gap): `sample(theta, tau)` draws one Gumbel sample per neuron and
returns the hard (0/1) table in the forward pass with the gradient of the relaxed
(tempered) sample in the backward pass (straight-through estimator). "hard" sampling
uses no noise: the forward pass is the neuron's discrete gate (`tables`), the backward
pass the relaxed table's gradient, so training sees the net evaluation will see (a finish
for a soft-trained net whose discretization gap costs accuracy).
"""

from __future__ import annotations

import math

import torch

from lgn_compile.gates import difflogic_op_to_table

PARAMETRIZATIONS = ("softmax16", "iwp")
IWP_ACTIVATIONS = ("sin", "sigmoid")
INITS = ("residual", "uniform")
SAMPLINGS = ("soft", "gumbel", "hard")
_EPS = 1e-6


def _op_tables() -> torch.Tensor:
    """float32 [16, 4]: row o is difflogic op o's truth table, entry j = f at assignment j."""
    return torch.tensor([[(difflogic_op_to_table(op) >> j) & 1 for j in range(4)]
                         for op in range(16)], dtype=torch.float32)


OP_TABLES = _op_tables()
# table (as int, our encoding) -> difflogic op id, derived from the one conversion in gates.py
TABLE_TO_OP = torch.tensor([[difflogic_op_to_table(op) for op in range(16)].index(t)
                            for t in range(16)], dtype=torch.int64)
PASS_THROUGH_OP = TABLE_TO_OP[10].item()  # gate A: passes operand 0 through


def pass_through_table(arity: int) -> torch.Tensor:
    """float32 [2**arity]: the table of x0 (entry j is bit 0 of j)."""
    return (torch.arange(1 << arity) & 1).to(torch.float32)


def straight_through(hard: torch.Tensor, soft: torch.Tensor) -> torch.Tensor:
    """`hard` in the forward pass, the gradient of `soft` in the backward pass."""
    return hard + (soft - soft.detach())  # exactly `hard` in the forward pass


def gumbel_one_hot(logits: torch.Tensor, tau: float, dim: int = -1) -> torch.Tensor:
    """A hard one-hot Gumbel-max sample along `dim`, with the gradient of the tempered
    Gumbel softmax (straight-through); used for gate choices and for learnable wiring."""
    gumbel = -torch.log(-torch.log(torch.rand_like(logits).clamp(_EPS, 1 - _EPS)))
    soft = torch.softmax((logits + gumbel) / tau, dim=dim)
    hard = torch.zeros_like(soft).scatter_(dim, soft.argmax(dim, keepdim=True), 1.0)
    return straight_through(hard, soft)


class Softmax16:
    """difflogic's softmax over the 16 two-input gates."""

    name = "softmax16"
    default_strength = 5.0  # residual init: logit of the pass-through gate (others 0)

    def check_arity(self, arity: int) -> None:
        if arity != 2:
            raise ValueError(f"softmax16 gates have arity 2, got {arity}")

    def num_params(self, arity: int) -> int:
        return 16

    def reset(self, theta: torch.Tensor, arity: int, init: str, strength: float,
              gen: torch.Generator) -> None:
        """residual: logit `strength` on gate A, 0 elsewhere; uniform: N(0, 1) logits."""
        if init == "residual":
            theta.zero_()
            theta[:, PASS_THROUGH_OP] = strength
        else:
            theta.copy_(torch.randn(theta.shape, generator=gen))

    def weights(self, theta: torch.Tensor) -> torch.Tensor:
        return torch.softmax(theta, dim=-1) @ OP_TABLES.to(theta)

    def sample(self, theta: torch.Tensor, tau: float) -> torch.Tensor:
        return gumbel_one_hot(theta, tau) @ OP_TABLES.to(theta)

    def tables(self, theta: torch.Tensor) -> torch.Tensor:
        return OP_TABLES.to(theta.device, torch.uint8)[theta.argmax(dim=-1)]

    def params_for_tables(self, tables: torch.Tensor, confidence: float) -> torch.Tensor:
        """Logits whose argmax gate is `tables` (int64 [out, 4]): `confidence` on it, 0 else."""
        ints = (tables << torch.arange(4)).sum(dim=1)
        theta = torch.zeros(len(tables), 16)
        theta.scatter_(1, TABLE_TO_OP[ints].unsqueeze(1), confidence)
        return theta


class InputWise:
    """Input-wise parametrization: one weight per truth-table entry, any arity 1..6."""

    name = "iwp"

    def __init__(self, activation: str = "sin"):
        if activation not in IWP_ACTIVATIONS:
            raise ValueError(f"unknown IWP activation {activation!r} "
                             f"(choose from {', '.join(IWP_ACTIVATIONS)})")
        self.activation = activation
        # residual init: |theta| = strength gives w = 0.92 (sin) / 0.95 (sigmoid) on each entry
        self.default_strength = 1.0 if activation == "sin" else 3.0

    def check_arity(self, arity: int) -> None:
        if not 1 <= arity <= 6:
            raise ValueError(f"IWP gates have arity 1..6, got {arity}")

    def num_params(self, arity: int) -> int:
        return 1 << arity

    def reset(self, theta: torch.Tensor, arity: int, init: str, strength: float,
              gen: torch.Generator) -> None:
        """residual: theta ~ N(+-strength, (strength/4)^2) with the sign of the pass-through
        table's entry (so every entry starts on the right side of 0.5); uniform: theta ~
        N(0, 0.1^2), every entry near 0.5."""
        noise = torch.randn(theta.shape, generator=gen)
        if init == "residual":
            sign = pass_through_table(arity) * 2 - 1
            theta.copy_(sign * strength + noise * (strength / 4))
        else:
            theta.copy_(noise * 0.1)

    def weights(self, theta: torch.Tensor) -> torch.Tensor:
        if self.activation == "sin":
            return 0.5 + 0.5 * torch.sin(theta)
        return torch.sigmoid(theta)

    def sample(self, theta: torch.Tensor, tau: float) -> torch.Tensor:
        """Each entry is a Bernoulli(w) bit: Gumbel-sigmoid (logistic noise on logit w)."""
        w = self.weights(theta).clamp(_EPS, 1 - _EPS)
        u = torch.rand_like(w).clamp(_EPS, 1 - _EPS)
        noisy = torch.log(w) - torch.log1p(-w) + torch.log(u) - torch.log1p(-u)
        soft = torch.sigmoid(noisy / tau)
        return straight_through((noisy >= 0).to(soft), soft)

    def tables(self, theta: torch.Tensor) -> torch.Tensor:
        return (self.weights(theta) >= 0.5).to(torch.uint8)

    def params_for_weights(self, weights: torch.Tensor) -> torch.Tensor:
        """theta with `weights(theta) == weights` (in [0, 1]; 0 and 1 exact for sin)."""
        weights = weights.to(torch.float32)
        if self.activation == "sin":
            return torch.asin((2 * weights - 1).clamp(-1, 1))
        w = weights.clamp(_EPS, 1 - _EPS)
        return torch.log(w) - torch.log1p(-w)

    def params_for_tables(self, tables: torch.Tensor, confidence: float) -> torch.Tensor:
        """theta for 0/1 tables: exactly +-pi/2 (sin), +-confidence (sigmoid)."""
        sign = tables.to(torch.float32) * 2 - 1
        return sign * (math.pi / 2 if self.activation == "sin" else confidence)


def make(parametrization: str, activation: str = "sin"):
    """The parametrization object for a layer."""
    if parametrization == "softmax16":
        return Softmax16()
    if parametrization == "iwp":
        return InputWise(activation)
    raise ValueError(f"unknown parametrization {parametrization!r} "
                     f"(choose from {', '.join(PARAMETRIZATIONS)})")
