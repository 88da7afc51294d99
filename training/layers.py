"""Differentiable logic gate layers, GroupSum and the whole net.

A `LogicLayer` neuron reads `arity` earlier outputs (fixed wiring: buffer `indices`, int64
[arity, out]; learnable wiring: a learned pick among candidates, see `LogicLayer`). Its parametrization (`parametrizations.py`) turns its raw parameters
`logits` into truth-table weights w [out, 2**arity]; while training the neuron computes
the multilinear interpolation of w at its real-valued operands (exactly difflogic's
softmax-mixed gate for softmax16, the Light DLGN neuron for iwp). With Gumbel sampling
w is a hard straight-through sample, one per neuron per forward pass (so per training
step), shared by the whole batch.

In eval mode (`module.eval()`) a layer computes its discretized gate exactly: the gate's
truth table looked up at the 0/1 inputs, never a sample. `discretize()` returns that
network in the model-file encoding (docs/DESIGN.md): operands [out, arity], truth tables
[out, 2**arity] whose entry j is the output for the assignment j = x0 + 2*x1 + ...
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from . import parametrizations
from .parametrizations import INITS, IWP_ACTIVATIONS, PARAMETRIZATIONS, SAMPLINGS

CONNECTIONS = ("random", "unique", "learnable")
CONNECTION_RELAXES = ("hard", "soft")
FIXED_CONNECTIONS = ("random", "unique")
_UNIQUE_REPAIR_ROUNDS = 10_000


def random_connections(in_dim: int, out_dim: int, arity: int, seed: int) -> torch.Tensor:
    """int64 [arity, out_dim] wiring, difflogic-style: a shuffled cover of the inputs.

    Every input is used at least once when arity*out_dim >= in_dim. Seeded by its own
    torch.Generator, so the wiring does not depend on (or disturb) the global RNG.
    """
    gen = torch.Generator().manual_seed(seed)
    slots = torch.randperm(arity * out_dim, generator=gen) % in_dim
    slots = torch.randperm(in_dim, generator=gen)[slots]
    return slots.reshape(arity, out_dim).contiguous()


def unique_connections(in_dim: int, out_dim: int, arity: int, seed: int) -> torch.Tensor:
    """int64 [arity, out_dim] wiring in which every input is used (each about equally
    often), no neuron reads one input twice, and no two neurons read the same set of
    inputs (when distinct sets are plentiful, C(in_dim, arity) >= 2 * out_dim; in tighter
    cases only the first two hold).

    Starts from a random balanced cover and swaps operands between neurons until those
    hold; swaps keep every input's use count, so the cover survives.
    """
    if arity * out_dim < in_dim:
        raise ValueError(f"unique connections need arity*out_dim >= in_dim to use every "
                         f"input, got {arity}*{out_dim} < {in_dim}")
    if in_dim < arity:
        raise ValueError(f"unique connections need at least {arity} inputs, got {in_dim}")
    distinct_sets = math.comb(in_dim, arity) >= 2 * out_dim
    gen = torch.Generator().manual_seed(seed)
    grid = (torch.randperm(arity * out_dim, generator=gen) % in_dim)
    grid = torch.randperm(in_dim, generator=gen)[grid].reshape(out_dim, arity)
    for _ in range(_UNIQUE_REPAIR_ROUNDS):
        bad = _non_unique_rows(grid, distinct_sets)
        if not len(bad):
            return grid.t().contiguous()
        partners = torch.randint(0, out_dim, (len(bad),), generator=gen)
        cols = torch.randint(0, arity, (2, len(bad)), generator=gen)
        for row, partner, mine, theirs in zip(bad.tolist(), partners.tolist(), *cols.tolist()):
            grid[row, mine], grid[partner, theirs] = grid[partner, theirs].item(), grid[row, mine].item()
    raise ValueError(f"could not find unique connections for {in_dim} -> {out_dim} "
                     f"(arity {arity})")


def _non_unique_rows(grid: torch.Tensor, distinct_sets: bool) -> torch.Tensor:
    """Rows that repeat an operand, or (if `distinct_sets`) repeat an earlier row's set."""
    ordered = grid.sort(dim=1).values
    bad = (ordered[:, 1:] == ordered[:, :-1]).any(dim=1)
    if distinct_sets:
        _, inverse = torch.unique(ordered, dim=0, return_inverse=True)
        first = torch.full((int(inverse.max()) + 1,), len(grid), dtype=torch.int64)
        first.scatter_reduce_(0, inverse, torch.arange(len(grid)), reduce="amin")
        bad |= first[inverse] != torch.arange(len(grid))
    return bad.nonzero().flatten()


def make_connections(kind: str, in_dim: int, out_dim: int, arity: int, seed: int):
    if kind not in FIXED_CONNECTIONS:
        raise ValueError(f"unknown fixed connections {kind!r} "
                         f"(choose from {', '.join(FIXED_CONNECTIONS)})")
    if kind == "random":
        return random_connections(in_dim, out_dim, arity, seed)
    if kind == "unique":
        return unique_connections(in_dim, out_dim, arity, seed)


def candidate_sets(in_dim: int, blocks: int, size: int, arity: int,
                   seed: int) -> torch.Tensor:
    """int64 [arity, blocks, size]: each operand's candidate inputs per block of gates, a
    shuffled cover (random permutations of the inputs laid end to end), so every input is a
    candidate somewhere when blocks*size >= in_dim; one block of all inputs (in random order)
    when size == in_dim."""
    gen = torch.Generator().manual_seed(seed)
    rounds = -(-blocks * size // in_dim)
    flat = torch.stack([torch.cat([torch.randperm(in_dim, generator=gen) for _ in range(rounds)])
                        [:blocks * size] for _ in range(arity)])
    return flat.reshape(arity, blocks, size)


def _multilinear(weights: torch.Tensor, operands: list[torch.Tensor]) -> torch.Tensor:
    """Multilinear interpolation: weights [out, 2**k] (entry j at assignment j), operands
    k tensors [N, out] in [0, 1] -> [N, out]. Exact for 0/1 operands.

    The weights become monomial coefficients once per call (Moebius transform, per neuron),
    then the polynomial is evaluated with 2**k - 1 fused multiply-adds on [N, out]
    tensors (x0 is the least significant bit of j: pair terms (2m, 2m+1)).
    """
    out, width = weights.shape
    coef = weights
    for i in range(len(operands)):  # entry j with bit i set: subtract entry j ^ (1 << i)
        pairs = coef.reshape(out, width >> (i + 1), 2, 1 << i)
        coef = torch.stack([pairs[:, :, 0], pairs[:, :, 1] - pairs[:, :, 0]], 2).reshape(out,
                                                                                       width)
    terms = list(coef.unbind(-1))
    for x in operands:
        terms = [torch.addcmul(terms[m], x, terms[m + 1]) for m in range(0, len(terms), 2)]
    return terms[0].expand(operands[0].shape) if terms[0].dim() == 1 else terms[0]


class GateBlock(nn.Module):
    """What every block of a net shares (a dense `LogicLayer`, and the conv blocks of
    `conv.py`): in train mode `forward` is the relaxed (or, with `sampling == "gumbel"`,
    sampled) block; in eval mode it is the discrete block on bits, as floats.

    A block provides `forward_relaxed(x, sample)`, `forward_discrete(x)`, `out_shape(shape)`
    and `gate_counts(shape)` (its output shape and unrolled gates for an input shape),
    `unroll(index_map)` (its model-file layers, see `LogicNet.unrolled`) and `config()`."""

    sampling = "soft"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return self.forward_discrete(x).to(x.dtype if x.dtype.is_floating_point
                                               else torch.float32)
        return self.forward_relaxed(x, sample=self.sampling == "gumbel")


def gather_candidates(rows: torch.Tensor, candidate_index: torch.Tensor) -> torch.Tensor:
    """Each block's candidate inputs: rows [N, in_dim], candidate_index [B, size] ->
    [B, N, size], the batch of matrices the soft mixture and the pick's gradient multiply."""
    blocks, size = candidate_index.shape
    return (rows.index_select(1, candidate_index.reshape(-1))
            .reshape(len(rows), blocks, size).transpose(0, 1))


class StraightThroughPick(torch.autograd.Function):
    """The operands of the straight-through pick, `candidates @ straight_through(hard,
    softmax(logits))^T`, without the dense products of the forward pass: the value is each
    operand's argmax candidate (one index_select, as fixed wiring), the gradient that of
    the softmax mixture (the candidates are gathered again for it in the backward pass).

    rows [N, in_dim], candidate_index [B, size] (input indices), logits [B, group, size]
    -> operands [N, B * group]."""

    @staticmethod
    def forward(ctx, rows: torch.Tensor, candidate_index: torch.Tensor,
                logits: torch.Tensor) -> torch.Tensor:
        chosen = candidate_index.gather(1, logits.argmax(-1))  # [B, group] input indices
        ctx.save_for_backward(rows, candidate_index, torch.softmax(logits, dim=-1), chosen)
        return rows.index_select(1, chosen.reshape(-1))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        rows, candidate_index, soft, chosen = ctx.saved_tensors
        blocks, group, _ = soft.shape
        grad_rows = grad_logits = None
        if ctx.needs_input_grad[0]:  # the forward value is the one-hot product: the pick only
            grad_rows = torch.zeros_like(rows).index_add_(1, chosen.reshape(-1), grad)
        if ctx.needs_input_grad[2]:  # the softmax's backward of d loss / d weights
            candidates = gather_candidates(rows, candidate_index)
            weights = torch.bmm(grad.reshape(len(rows), blocks, group).permute(1, 2, 0),
                                candidates)  # [B, group, size]
            grad_logits = weights.sub_((weights * soft).sum(-1, keepdim=True)).mul_(soft)
        return grad_rows, None, grad_logits


class LogicLayer(GateBlock):
    """A layer of `out_dim` learned logic gates over the `in_dim` outputs of the layer before.

    Args:
        in_dim, out_dim: input and output widths.
        parametrization: "softmax16" (difflogic's 16 gates, arity 2) or "iwp" (input-wise:
            one weight per input assignment, arity 1..6).
        connections: "random" (seeded cover, every input used when arity*out_dim >= in_dim)
            or "unique" (every input used, distinct operands, distinct operand sets).
        seed: seed of the wiring and of the init's noise.
        init: "residual" starts every gate near the pass-through of operand 0 (deep nets
            start as near-identity and train much faster); "uniform" gives every gate
            about equal weight (difflogic's original init).
        arity: operands per gate; must be 2 for softmax16.
        init_strength: how strongly residual init favours pass-through: the logit of gate A
            (softmax16, default 5) or the mean |theta| of IWP entries (default 1 for sin,
            3 for sigmoid).
        activation: IWP weight of angle theta: "sin" (0.5 + 0.5 sin theta) or "sigmoid".
        sampling: "soft" (relaxed gates), "gumbel" (hard Gumbel sample, straight-through
            gradient; one sample per neuron per forward, shared by the batch) or "hard"
            (the discrete gate, straight-through gradient of the relaxed one; no noise).
        gumbel_tau: temperature of the Gumbel relaxation (smaller is closer to hard).
        candidates, candidate_group, connection_strength, connection_relax: learnable
            wiring only (see below): candidates per operand (0, or at least in_dim: every
            input), gates per shared candidate set, the initial logit of each operand's
            starting pick, and the relaxation in training.

    With `connections="learnable"` each operand of each gate picks its input from a
    candidate set by a learned softmax (`connection_logits`). In training the operand is,
    with connection_relax "hard" (default), the argmax candidate with the softmax's
    gradient (straight-through: no discretization gap from the wiring; on digits it beat
    the mixture), with "soft" the softmax mixture of its candidates, and with Gumbel
    sampling a hard Gumbel pick (straight-through). In eval mode and in the export it is
    the argmax candidate (`wiring()`), so the model file keeps fixed operands. Gates come in blocks of
    `candidate_group` that share each operand's set of `candidates` inputs (buffer
    `candidate_index` [arity, blocks, candidates]; logits [arity, blocks, group, candidates]),
    so the mixture of a block is one small
    matrix product instead of a [batch, gates, candidates] gather (~30x faster on a CPU).
    Every operand starts with logit `connection_strength` on one candidate (a shuffled
    cover of the inputs, like random wiring) plus N(0, 0.1^2) noise on all.
    """

    def __init__(self, in_dim: int, out_dim: int, parametrization: str = "softmax16",
                 connections: str = "random", seed: int = 0, init: str = "residual",
                 arity: int = 2, init_strength: float | None = None,
                 activation: str = "sin", sampling: str = "soft", gumbel_tau: float = 1.0,
                 candidates: int = 16, candidate_group: int = 32,
                 connection_strength: float = 2.0, connection_relax: str = "hard"):
        super().__init__()
        self.param = parametrizations.make(parametrization, activation)
        self.param.check_arity(arity)
        if connections not in CONNECTIONS:
            raise ValueError(f"unknown connections {connections!r} "
                             f"(choose from {', '.join(CONNECTIONS)})")
        if init not in INITS:
            raise ValueError(f"unknown init {init!r} (choose from {', '.join(INITS)})")
        if in_dim < 1 or out_dim < 1:
            raise ValueError(f"layer dimensions must be positive, got {in_dim} -> {out_dim}")
        self.in_dim, self.out_dim, self.arity = in_dim, out_dim, arity
        self.parametrization, self.connections = parametrization, connections
        self.activation = activation if parametrization == "iwp" else None
        self.seed, self.init = seed, init
        self.init_strength = float(self.param.default_strength if init_strength is None
                                   else init_strength)
        self.set_relaxation(sampling, gumbel_tau, connection_relax)
        self.logits = nn.Parameter(torch.empty(out_dim, self.param.num_params(arity)))
        if connections == "learnable":
            if candidates < 0 or candidate_group < 1:
                raise ValueError(f"need candidates >= 0 and candidate_group >= 1, got "
                                 f"{candidates}, {candidate_group}")
            self.candidates, self.candidate_group = int(candidates), int(candidate_group)
            self.connection_strength = float(connection_strength)
            size = in_dim if candidates == 0 or candidates >= in_dim else candidates
            group = out_dim if size == in_dim else min(candidate_group, out_dim)
            blocks = -(-out_dim // group)
            self.register_buffer("candidate_index",
                                 torch.zeros(arity, blocks, size, dtype=torch.int64))
            self.connection_logits = nn.Parameter(torch.zeros(arity, blocks, group, size))
        else:
            self.register_buffer("indices", torch.zeros(arity, out_dim, dtype=torch.int64))
        self.reset_parameters()

    @property
    def learnable(self) -> bool:
        return self.connections == "learnable"

    def reset_parameters(self) -> None:
        """Fresh wiring and parameters from `seed` and `init` (deterministic)."""
        with torch.no_grad():
            if self.learnable:
                _, blocks, group, size = self.connection_logits.shape
                pick_gen = torch.Generator().manual_seed(self.seed + 3_000_003)
                rounds = -(-group // size)  # each slot picked about equally often
                picks = (torch.rand(self.arity, blocks, rounds * size, generator=pick_gen)
                         .argsort(-1) % size)[..., :group]
                self.set_candidates(candidate_sets(self.in_dim, blocks, size, self.arity,
                                                   self.seed), picks)
            else:
                self.indices.copy_(make_connections(self.connections, self.in_dim,
                                                    self.out_dim, self.arity, self.seed))
            gen = torch.Generator().manual_seed(self.seed + 1_000_003)
            theta = torch.empty(self.logits.shape)
            self.param.reset(theta, self.arity, self.init, self.init_strength, gen)
            self.logits.copy_(theta)

    def set_candidates(self, candidate_index: torch.Tensor, picks: torch.Tensor) -> None:
        """Learnable wiring: candidate sets int [arity, blocks, size] (input indices) and each
        operand's starting pick int [arity, blocks, group] (a slot of its block's set); the
        logits restart at `connection_strength` on the pick plus N(0, 0.1^2) noise."""
        with torch.no_grad():
            self.candidate_index.copy_(candidate_index)
            gen = torch.Generator().manual_seed(self.seed + 2_000_003)
            logits = torch.randn(self.connection_logits.shape, generator=gen) * 0.1
            logits.scatter_add_(3, picks.unsqueeze(3).to(torch.int64),
                                torch.full(picks.unsqueeze(3).shape, self.connection_strength))
            self.connection_logits.copy_(logits)

    def set_relaxation(self, sampling: str, gumbel_tau: float,
                       connection_relax: str = "hard") -> None:
        """How this layer relaxes in training (`connection_relax`: its learnable wiring's);
        not part of the trained layer, so a run may change it (`LogicNet.set_relaxation`)."""
        if sampling not in SAMPLINGS:
            raise ValueError(f"unknown sampling {sampling!r} (choose from {', '.join(SAMPLINGS)})")
        if not gumbel_tau > 0:
            raise ValueError(f"gumbel_tau must be positive, got {gumbel_tau}")
        if self.learnable and connection_relax not in CONNECTION_RELAXES:
            raise ValueError(f"unknown connection_relax {connection_relax!r} (choose from "
                             f"{', '.join(CONNECTION_RELAXES)})")
        self.sampling, self.gumbel_tau = sampling, float(gumbel_tau)
        if self.learnable:
            self.connection_relax = connection_relax

    def config(self) -> dict:
        """Plain-typed settings that rebuild this layer (the model file's layer entry)."""
        cfg = {"type": "logic", "in_dim": self.in_dim, "out_dim": self.out_dim,
               "arity": self.arity, "parametrization": self.parametrization,
               "connections": self.connections, "init": self.init,
               "init_strength": self.init_strength, "sampling": self.sampling,
               "gumbel_tau": self.gumbel_tau}
        if self.activation is not None:
            cfg["activation"] = self.activation
        if self.learnable:
            cfg.update(candidates=self.candidates, candidate_group=self.candidate_group,
                       connection_strength=self.connection_strength,
                       connection_relax=self.connection_relax)
        return cfg

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "type")

    # forward ------------------------------------------------------------------------------
    def wiring(self) -> torch.Tensor:
        """int64 [arity, out_dim]: the input each operand reads in the discrete layer (the
        fixed wiring, or each learnable operand's argmax candidate)."""
        if not self.learnable:
            return self.indices
        picks = self.connection_logits.detach().argmax(dim=3)  # [arity, blocks, group]
        chosen = self.candidate_index.gather(2, picks)
        return chosen.reshape(self.arity, -1)[:, :self.out_dim]

    def connection_weights(self, sample: bool = False) -> torch.Tensor:
        """float [arity, blocks, group, size]: each learnable operand's distribution over its
        block's candidates (softmax; sample=True: a hard Gumbel pick, straight-through)."""
        if sample:
            return parametrizations.gumbel_one_hot(self.connection_logits, self.gumbel_tau)
        soft = torch.softmax(self.connection_logits, dim=-1)
        if self.connection_relax == "soft":
            return soft
        hard = torch.zeros_like(soft).scatter_(-1, soft.argmax(-1, keepdim=True), 1.0)
        return parametrizations.straight_through(hard, soft)

    def _check_width(self, x: torch.Tensor) -> None:
        if x.shape[-1] != self.in_dim:
            raise ValueError(f"expected {self.in_dim} inputs, got shape {tuple(x.shape)}")

    def _operands(self, x: torch.Tensor) -> list[torch.Tensor]:
        self._check_width(x)
        wiring = self.wiring()
        return [x.index_select(-1, wiring[i]) for i in range(self.arity)]

    def _mixed_operands(self, x: torch.Tensor, sample: bool) -> list[torch.Tensor]:
        """Learnable wiring, relaxed: each operand the weighted mix of its candidates, one
        batched matrix product [blocks, N, size] x [blocks, size, group] for all operands
        (the straight-through pick: a gather forward, that product only for the gradient)."""
        self._check_width(x)
        arity, blocks, group, size = self.connection_logits.shape
        rows = x.reshape(-1, self.in_dim)
        if self.connection_relax == "hard" and not sample:
            picked = StraightThroughPick.apply(
                rows, self.candidate_index.reshape(arity * blocks, size),
                self.connection_logits.reshape(arity * blocks, group, size))
            mixed = picked.reshape(len(rows), arity, blocks * group).transpose(0, 1)
        else:
            candidates = gather_candidates(rows, self.candidate_index.reshape(-1, size))
            mixed = torch.bmm(candidates, self.connection_weights(sample)
                              .reshape(arity * blocks, group, size).transpose(1, 2))
            mixed = mixed.reshape(arity, blocks, len(rows), group).transpose(1, 2)
            mixed = mixed.reshape(arity, len(rows), blocks * group)
        return [m[..., :self.out_dim].reshape(*x.shape[:-1], self.out_dim)
                for m in mixed.unbind(0)]

    def forward_relaxed(self, x: torch.Tensor, sample: bool = False) -> torch.Tensor:
        """The relaxed gates: expected truth tables, or (sample=True) one hard Gumbel
        sample per neuron with a straight-through gradient (and, for learnable wiring, the
        candidates' mixture, or a Gumbel pick per operand)."""
        operands = self._mixed_operands(x, sample) if self.learnable else self._operands(x)
        return self.relaxed_gates(operands, sample)

    def relaxed_gates(self, operands: list[torch.Tensor], sample: bool = False) -> torch.Tensor:
        """The relaxed gates on their operands, given as `arity` tensors [..., out_dim]
        (for callers that lay the operands out themselves, e.g. conv trees); with sampling
        "hard" the discrete tables with the relaxed tables' gradient."""
        if sample:
            weights = self.param.sample(self.logits, self.gumbel_tau)
        else:
            weights = self.truth_table_weights()
            if self.sampling == "hard":  # the discrete gate forward, the relaxed gradient
                weights = parametrizations.straight_through(
                    self.param.tables(self.logits).to(weights), weights)
        return _multilinear(weights, operands)

    def truth_table_weights(self) -> torch.Tensor:
        """float [out, 2**arity]: each neuron's relaxed truth table w (entry j in [0, 1])."""
        return self.param.weights(self.logits)

    def forward_discrete(self, x: torch.Tensor) -> torch.Tensor:
        """Bits [..., in_dim] (any dtype; > 0.5 is 1) -> uint8 bits [..., out_dim], exactly the
        discretized gates: entry `a + 2b (+ 4c ...)` of each gate's truth table."""
        return self.discrete_gates(self._operands(x > 0.5 if x.dtype.is_floating_point
                                                  else x != 0))

    def discrete_gates(self, operands: list[torch.Tensor]) -> torch.Tensor:
        """The discrete gates on their operand bits, `arity` tensors [..., out_dim]."""
        assignment = operands[0].to(torch.int64)
        for i, operand in enumerate(operands[1:], 1):
            assignment = assignment + (operand.to(torch.int64) << i)
        tables = self.discrete_tables().to(assignment.device)
        offsets = torch.arange(self.out_dim, device=assignment.device) * tables.shape[1]
        return tables.reshape(-1)[assignment + offsets]

    # discretization -----------------------------------------------------------------------
    def discrete_tables(self) -> torch.Tensor:
        """uint8 [out, 2**arity]: each gate's truth table (entry j = output at assignment j)."""
        with torch.no_grad():
            return self.param.tables(self.logits)

    def discretize(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(operands int64 [out, arity], tables uint8 [out, 2**arity]) on the CPU, in the
        model-file encoding (docs/DESIGN.md)."""
        return (self.wiring().t().contiguous().cpu().to(torch.int64),
                self.discrete_tables().cpu().contiguous())

    def out_shape(self, shape) -> tuple[int]:
        if tuple(shape) != (self.in_dim,):
            raise ValueError(f"dense layer reads {self.in_dim} inputs, but {tuple(shape)} "
                             "come in")
        return (self.out_dim,)

    def gate_counts(self, shape) -> list[int]:
        return [self.out_dim]

    def unroll(self, index_map: torch.Tensor) -> tuple[list, torch.Tensor]:
        """This layer as model-file layers over the net's previous discrete layer:
        `index_map` gives, for each of this layer's inputs (any shape, flattened in order),
        its index among that layer's outputs. Returns ([(operands, tables, config)], the
        index map of this layer's outputs); see `LogicNet.unrolled`."""
        operands, tables = self.discretize()
        return ([(index_map.reshape(-1)[operands], tables, self.config())],
                torch.arange(self.out_dim))

    def set_tables(self, tables, operands=None, confidence: float = 10.0) -> None:
        """Make this layer's discrete gates exactly `tables` (uint8 [out, 2**arity]) and,
        when given, its wiring `operands` (int [out, arity]). `confidence` is the winning
        logit (softmax16) or |theta| (sigmoid IWP); sin IWP uses theta = +-pi/2."""
        tables = torch.as_tensor(np.asarray(tables), dtype=torch.int64)
        if tuple(tables.shape) != (self.out_dim, 1 << self.arity):
            raise ValueError(f"tables must be [{self.out_dim}, {1 << self.arity}], got "
                             f"{tuple(tables.shape)}")
        with torch.no_grad():
            if operands is not None:
                if self.learnable:
                    raise ValueError("a learnable layer's wiring is its connection logits; "
                                     "set_tables takes operands only for fixed wiring")
                operands = torch.as_tensor(np.asarray(operands), dtype=torch.int64)
                if tuple(operands.shape) != (self.out_dim, self.arity):
                    raise ValueError(f"operands must be [{self.out_dim}, {self.arity}], got "
                                     f"{tuple(operands.shape)}")
                if operands.numel() and (operands.min() < 0 or operands.max() >= self.in_dim):
                    raise ValueError(f"operand out of range [0, {self.in_dim})")
                self.indices.copy_(operands.t())
            self.logits.copy_(self.param.params_for_tables(tables, confidence))

    def set_truth_table_weights(self, weights) -> None:
        """IWP only: set theta so that `truth_table_weights()` equals `weights` [out, 2**k]."""
        if self.parametrization != "iwp":
            raise ValueError("only IWP layers store one weight per truth-table entry")
        with torch.no_grad():
            self.logits.copy_(self.param.params_for_weights(torch.as_tensor(weights)))


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


def layer_options_at(options: dict, index: int, num_layers: int) -> dict:
    """`LogicLayer` options of dense layer `index`: `candidates` may be a list, one count per
    layer (the first layer reading all the input bits is worth its cost; deeper ones less)."""
    candidates = options.get("candidates")
    if not isinstance(candidates, (list, tuple)):
        return options
    if len(candidates) != num_layers:
        raise ValueError(f"{len(candidates)} candidate counts for {num_layers} dense layers")
    return {**options, "candidates": int(candidates[index])}


class LogicNet(nn.Module):
    """Logic layers of widths `layer_sizes` over `num_inputs` bits, then GroupSum.

    Layer i is wired and initialized with seed `seed * 1000 + i`; the keyword options are
    `LogicLayer`'s, the same for every layer except `candidates`, which may be a list with
    one count per layer (use `from_layers` to mix parametrizations or arities).
    `forward(bits)` gives class scores (relaxed in train mode, popcount/tau of the discrete
    gates in eval mode); `discrete_scores(bits)` gives the integer popcounts of the
    discretized network.
    """

    def __init__(self, num_inputs: int, layer_sizes, num_classes: int, tau: float = 1.0,
                 seed: int = 0, **layer_options):
        super().__init__()
        layer_sizes = [int(s) for s in layer_sizes]
        if not layer_sizes:
            raise ValueError("a LogicNet needs at least one layer")
        dims = [num_inputs] + layer_sizes
        layers = [LogicLayer(dims[i], dims[i + 1], seed=seed * 1000 + i,
                             **layer_options_at(layer_options, i, len(layer_sizes)))
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
        """Gates per layer of the discrete network (as the model file stores it)."""
        return [layer.out_dim for layer in self.layers]

    @property
    def tau(self) -> float:
        return self.group_sum.tau

    def relaxation(self) -> dict:
        """The settings `set_relaxation` sets, as the net's gate layers hold them."""
        layers = [m for m in self.modules() if isinstance(m, LogicLayer)]
        wired = [layer for layer in layers if layer.learnable]
        return {"sampling": layers[0].sampling, "gumbel_tau": layers[0].gumbel_tau,
                **({"connection_relax": wired[0].connection_relax} if wired else {})}

    def set_relaxation(self, sampling: str, gumbel_tau: float = 1.0,
                       connection_relax: str = "hard") -> None:
        """How every gate (and learnable wire) relaxes in training. Not part of the trained
        net (the discrete net and the parameters are the same), so a run may finish a
        soft-trained net with hard or Gumbel gates (`lgn-train --init-from`)."""
        blocks = [block for block in self.modules() if isinstance(block, GateBlock)]
        for layer in (block for block in blocks if isinstance(block, LogicLayer)):
            layer.set_relaxation(sampling, gumbel_tau, connection_relax)  # checks first
        for block in blocks:  # and the conv blocks' own flag
            block.sampling = sampling

    @property
    def num_gates(self) -> int:
        return sum(self.layer_sizes)

    def arch_config(self) -> dict | None:
        """The model file's `config.arch` (None: the net is its `config.layers`)."""
        return None

    def _prepare(self, bits: torch.Tensor) -> torch.Tensor:
        """Input bits [N, num_inputs] in the layout the first block reads."""
        return bits

    def _input_map(self) -> torch.Tensor:
        """Input bit index of each entry of `_prepare`'s layout (for `unrolled`)."""
        return torch.arange(self.num_inputs)

    def forward(self, bits: torch.Tensor) -> torch.Tensor:
        x = self._prepare(bits if bits.dtype.is_floating_point else bits.to(torch.float32))
        for layer in self.layers:
            x = layer(x)
        return self.group_sum(x)

    def forward_relaxed(self, bits: torch.Tensor, sample: bool = False) -> torch.Tensor:
        """Relaxed class scores whatever the mode: expected gates, or Gumbel samples."""
        x = self._prepare(bits if bits.dtype.is_floating_point else bits.to(torch.float32))
        for layer in self.layers:
            x = layer.forward_relaxed(x, sample=sample)
        return self.group_sum(x)

    @torch.no_grad()
    def gate_utilization(self) -> float:
        """Share of gates that are not constant and reach an output through operands that
        matter (a gate ignoring an operand does not make it used)."""
        layers = self.discretize()
        live = torch.ones(layers[-1][1].shape[0], dtype=torch.bool)
        used = 0
        for i in range(len(layers) - 1, -1, -1):
            operands, tables = layers[i]
            matters = _operand_matters(tables)  # [out, arity]
            live &= matters.any(dim=1)  # constant gates reach nothing
            used += int(live.sum())
            if i:
                reads = operands[live][matters[live]]
                live = torch.zeros(layers[i - 1][1].shape[0], dtype=torch.bool)
                live[reads] = True
        return used / self.num_gates

    @torch.no_grad()
    def discrete_outputs(self, bits) -> torch.Tensor:
        """uint8 [N, last layer width]: the output bits of the discretized network."""
        x = self._prepare(_as_tensor(bits, self._device()))
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
        """Per layer of the discrete network (operands int64 [out, arity], tables uint8
        [out, 2**arity]), on the CPU."""
        return [(operands, tables) for operands, tables, _ in self.unrolled()]

    @torch.no_grad()
    def unrolled(self) -> list[tuple[torch.Tensor, torch.Tensor, dict]]:
        """The discrete network as the model file stores it: per layer (operands, tables,
        config entry). Each block unrolls itself over the index map of the outputs of the
        discrete layers before it (a dense layer is one layer as it is; a conv block is
        one layer per tree level, every position a gate of its own)."""
        index_map, layers = self._input_map(), []
        for block in self.layers:
            emitted, index_map = block.unroll(index_map)
            layers += emitted
        return layers

    def _device(self) -> torch.device:
        return next(self.buffers()).device


def param_groups(net: nn.Module, lr: float, connection_lr: float | None = None) -> list[dict]:
    """Optimizer groups: the gates' parameters at `lr`, learnable wiring's logits at
    `connection_lr` (default `lr`; a group only when the net has learnable wiring, so a
    fixed-wiring run's optimizer state keeps its one group)."""
    wiring = [p for name, p in net.named_parameters() if name.endswith("connection_logits")]
    ids = {id(p) for p in wiring}
    groups = [{"params": [p for p in net.parameters() if id(p) not in ids], "lr": lr}]
    if wiring:
        groups.append({"params": wiring, "lr": lr if connection_lr is None else connection_lr})
    return groups


def _operand_matters(tables: torch.Tensor) -> torch.Tensor:
    """bool [out, arity]: whether flipping operand i can change the gate's output."""
    arity = tables.shape[1].bit_length() - 1
    entries = torch.arange(tables.shape[1])
    return torch.stack([(tables != tables[:, entries ^ (1 << i)]).any(dim=1)
                        for i in range(arity)], dim=1)


def _as_tensor(bits, device) -> torch.Tensor:
    if isinstance(bits, torch.Tensor):
        return bits.to(device)
    array = np.asarray(bits)
    if array.ndim != 2:
        raise ValueError(f"bits must be 2-D [N, num_inputs], got shape {array.shape}")
    return torch.from_numpy(np.ascontiguousarray(array)).to(device)


__all__ = ["GateBlock", "LogicLayer", "GroupSum", "LogicNet", "random_connections", "unique_connections",
           "candidate_sets", "param_groups",
           "PARAMETRIZATIONS", "CONNECTIONS", "INITS", "IWP_ACTIVATIONS", "SAMPLINGS"]
