"""Narrow a trained net's head: keep the `group_size` output bits of each class that the
training set needs most, and drop the rest.

The popcount head's cost follows the output bits (about one LUT6 per distinct bit), and
the gates that only fed dropped bits go with them (the compiler's dead-gate pass), so a
narrower head is the cheapest way along the accuracy-per-LUT curve: no retraining, and the
result is an ordinary model file whose discrete network is the trained one restricted to
the kept bits.

Selection is greedy backward elimination on the training set, exact for one bit at a
time: removing bit i of class c lowers that class's score by the bit, so the change of
the cross-entropy of the GroupSum scores is sum_n bit[n, c, i] * d[n, c], where d[n, c] is
the change when class c's score of sample n drops by one -- one matrix-vector product per
class and round. Each round removes the cheapest bit of every class in turn, so the
classes keep equal groups, as GroupSum needs. tau follows the group size (tau * sqrt(kept / trained)),
which keeps the relaxed scores' scale as the groups shrink.

Then, optionally, the kept slots are *reassigned* (`swap_slots`): a slot of class c may hold
any output bit of the net, of any class, or its complement, and a bit may fill several
slots (the head counts a repeated bit with its multiplicity). A local search swaps slots
while the training cross-entropy falls. The head keeps its size (K slots a class) but is
no longer restricted to each class's own bits: a bit that tells 3 from 8 can vote against
8, and a class can weight its best bits twice. Every slot is still one gate of the last
layer (a copy of a trained gate, or that gate with its truth table complemented), so the
result is an ordinary model file and the compiler needs nothing new.

The search can weigh hardware beside the loss (`bit_cost`): the popcounts' heap bits and
distinct signals (`head_cost`), and optionally the logic gates the kept bits need
(`Cones`, from the compiler's own -O2 circuit); and it can be stopped by training samples
kept out of it (`HeldOut`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import networkx as nx
import numpy as np
import torch

from lgn_compile import ir
from lgn_compile.errors import LgnError
from lgn_compile.model_file import Model
from lgn_compile.passes import PRESETS, optimize_model

from .layers import LogicLayer, LogicNet


def head_outputs(net: LogicNet, bits: np.ndarray, batch: int = 4096) -> np.ndarray:
    """uint8 [N, classes, group size]: the discrete output bits of `net` on `bits`."""
    chunks = [net.discrete_outputs(bits[i:i + batch]).cpu().numpy().astype(np.uint8)
              for i in range(0, len(bits), batch)]
    out = np.concatenate(chunks) if chunks else np.zeros((0, net.layer_sizes[-1]), np.uint8)
    return out.reshape(len(out), net.num_classes, -1)


def select_head(outputs: np.ndarray, labels: np.ndarray, group_size: int,
                tau: float) -> np.ndarray:
    """int64 [classes, group_size]: the output bits of each class to keep (ascending).

    `outputs` is uint8 [N, classes, G] (the trained head's bits on the training set),
    `labels` int [N], `tau` the GroupSum temperature the net trained with at G bits.
    """
    samples, classes, trained = outputs.shape
    if not 1 <= group_size <= trained:
        raise LgnError(f"group size {group_size} must be between 1 and the trained {trained}")
    if samples == 0 or len(labels) != samples:
        raise LgnError(f"need matching non-empty outputs and labels ({samples} vs "
                       f"{len(labels)})")
    bits = [np.ascontiguousarray(outputs[:, c, :], dtype=np.float32) for c in range(classes)]
    alive = np.ones((classes, trained), dtype=bool)
    scores = outputs.sum(axis=2, dtype=np.float64)
    truth = np.eye(classes)[np.asarray(labels, dtype=np.int64)]
    for kept in range(trained, group_size, -1):
        scaled = scaled_tau(tau, trained, kept)
        for c in range(classes):
            z = scores / scaled
            lse = np.log(np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1)) + z.max(axis=1)
            # the cross-entropy's change when class c's score drops by one: through the
            # log-sum-exp log(1 - p_c (1 - e^(-1/tau))), plus 1/tau where c is the label
            drop = np.log1p(np.exp(z[:, c] - lse) * math.expm1(-1.0 / scaled)) + \
                truth[:, c] / scaled
            change = bits[c].T @ drop.astype(np.float32)
            change[~alive[c]] = np.inf
            worst = int(np.argmin(change))
            alive[c, worst] = False
            scores[:, c] -= bits[c][:, worst]
    return np.stack([np.flatnonzero(row) for row in alive]).astype(np.int64)


# The search's temperature: the pruning tau halved weighs the misclassified samples more.
# Measured on a 44k MNIST net's epoch-1 head at K=250 after 10 rounds: 0.5 gave 96.51% test
# accuracy, 1.0 96.18% and 0.25 95.92% (96.10% before swapping).
SWAP_TAU_SCALE = 0.5


class Kept(NamedTuple):
    """The swap search's round to keep, by the held-out objective (the swaps made up to it
    count, the later ones are undone)."""

    objective: float
    slots: np.ndarray
    loss: float  # training cross-entropy
    round: int
    swaps: int


def swap_slots(outputs: np.ndarray, labels: np.ndarray, keep: np.ndarray, tau: float,
               rounds: int, per_round: int = 16, bit_cost: float = 0.0,
               cones: Cones | None = None, held_out: HeldOut | None = None,
               log=None) -> tuple[np.ndarray, dict]:
    """Reassign the head's slots: int64 [classes, K] indices into the 2 * classes * G
    candidates (output bit i of the flattened last layer, or i + classes * G: its
    complement), starting from `keep` (the pruned selection, each class its own bits).

    Each round, for each class in turn: the exact change of the cross-entropy (scores / tau)
    of adding any candidate to the class and of removing any of its slots (one product of
    the bits with two per-sample vectors, as in `select_head`); of the `per_round` best
    adds and removes, the best pairs (each candidate in one) are swapped at once, up to
    `per_round`, halved until the objective falls. Stops after `rounds` rounds or when no
    swap lowers it; so the objective never rises.

    `bit_cost` > 0 makes the objective the cross-entropy plus `bit_cost` times the head's
    hardware cost (`head_cost`): heap bits and the distinct signals they need. Candidates
    equal on the whole training set are then one signal (the first of them stands for all,
    also for the starting slots: the scores do not change), so the search sees that a
    repeated bit or another class's bit is cheaper than a new one; moves of two slots at
    once are weighed too (their exact loss change: one more product). With `cones` the cost
    also counts the logic gates the used bits need (`Cones`), so a bit that needs gates no
    other kept bit needs costs them.

    With `held_out` (samples kept out of the search) the result is the slots of the round
    where the held-out loss plus the cost was lowest, and the search stops HELD_OUT_PATIENCE
    rounds after that round without a lower one."""
    samples, classes, group = outputs.shape
    width = classes * group
    bits = np.ascontiguousarray(outputs.reshape(samples, width), dtype=np.float32)
    canon = same_columns(bits) if bit_cost > 0 else np.arange(2 * width)
    slots = np.zeros((classes, 2 * width), dtype=np.int64)  # multiplicity of each candidate
    for c in range(classes):
        np.add.at(slots[c], canon[c * group + np.asarray(keep[c])], 1)
    truth = np.eye(classes)[np.asarray(labels, dtype=np.int64)]
    stand_in = canon != np.arange(2 * width)  # never added: another candidate stands for it

    def column(j: int) -> np.ndarray:
        return bits[:, j] if j < width else 1.0 - bits[:, j - width]

    def cost(slots: np.ndarray) -> float:
        return bit_cost * head_cost(slots, cones) if bit_cost else 0.0

    def objective(scores: np.ndarray, slots: np.ndarray) -> tuple[float, float]:
        """(the cross-entropy plus the cost term, the cross-entropy alone)"""
        loss = cross_entropy(scores, truth, tau)
        return loss + cost(slots), loss

    scores = np.stack([bits[:, c * group + np.asarray(keep[c])].sum(axis=1)
                       for c in range(classes)], axis=1).astype(np.float64)
    cost_before = head_cost(slots, cones)
    gates_before = cones.size(slots) if cones is not None else None
    (current, start), swaps, done = objective(scores, slots), 0, 0
    loss = start
    if held_out is not None:
        held_start = held_out.loss(slots, tau)
        best = Kept(held_start + cost(slots), slots, loss, 0, 0)
    for done in range(1, rounds + 1):
        moved = 0
        for c in range(classes):
            z = scores / tau
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p = p[:, c] / p.sum(axis=1)
            moves = []  # (estimated change, added candidate, removed candidate, slots moved)
            # moving two slots at once gets past the heap's binary steps: a class holding
            # three bits twice each saves a heap bit only by moving both copies of one
            for m in (1, 2) if bit_cost else (1,):
                up = np.log1p(p * math.expm1(m / tau)) - m * truth[:, c] / tau  # score + m
                down = np.log1p(p * math.expm1(-m / tau)) + m * truth[:, c] / tau  # score - m
                gain_up, gain_down = np.stack([up, down]).astype(np.float32) @ bits
                add = np.concatenate([gain_up, up.sum() - gain_up])  # a bit, its complement
                remove = np.concatenate([gain_down, down.sum() - gain_down])
                add, remove = add / samples, remove / samples
                if bit_cost:
                    cost_add, cost_remove = marginal_costs(slots, c, m, cones)
                    add += bit_cost * cost_add
                    remove += bit_cost * cost_remove
                add[stand_in] = np.inf
                remove[slots[c] < m] = np.inf
                moves += [(add[j] + remove[k], j, k, m)
                          for j in np.argsort(add, kind="stable")[:per_round]
                          for k in np.argsort(remove, kind="stable")[:per_round]
                          if j != k and add[j] + remove[k] < 0]
            pairs, touched = [], set()
            for _, j, k, m in sorted(moves):  # best first, each candidate in one move
                if j not in touched and k not in touched and len(pairs) < per_round:
                    pairs.append((j, k, m))
                    touched |= {j, k}
            while pairs:
                trial, moved_slots = scores.copy(), slots.copy()
                for j, k, m in pairs:
                    trial[:, c] += m * (column(j) - column(k))
                    moved_slots[c, j] += m
                    moved_slots[c, k] -= m
                trial_objective, trial_loss = objective(trial, moved_slots)
                if trial_objective < current:
                    scores, slots, current, loss = trial, moved_slots, trial_objective, trial_loss
                    moved += sum(m for _, _, m in pairs)
                    break
                pairs = pairs[:len(pairs) // 2]
        swaps += moved
        held_loss = held_out.loss(slots, tau) if held_out is not None else None
        if log is not None:
            log(f"round {done}: {moved} swaps, training loss {loss:.5f}"
                + (f", held-out loss {held_loss:.5f}" if held_out is not None else "")
                + (f", cost {head_cost(slots, cones):g}" if bit_cost else "")
                + (f" ({cones.size(slots)} logic gates)" if cones is not None else ""))
        if held_out is not None:
            held_objective = held_loss + cost(slots)
            if held_objective < best.objective:
                best = Kept(held_objective, slots, loss, done, swaps)
            elif done - best.round >= HELD_OUT_PATIENCE:
                break
        if not moved:
            break
    if held_out is not None:
        slots, loss, kept_round, swaps = best.slots, best.loss, best.round, best.swaps
    chosen = np.stack([np.repeat(np.arange(2 * width), row) for row in slots])
    stats = {"rounds": done, "swaps": swaps, "loss_before": round(start, 6),
             "loss_after": round(loss, 6),
             "complemented": int((chosen >= width).sum()),
             "other_class": int(sum(((chosen[c] % width) // group != c).sum()
                                    for c in range(classes))),
             "repeated": int((slots > 1).sum())}
    if held_out is not None:
        stats["held_out"] = {"samples": len(held_out.labels), "round": kept_round,
                             "loss_before": round(held_start, 6),
                             "loss_after": round(held_out.loss(slots, tau), 6)}
    if bit_cost:
        stats.update(bit_cost=bit_cost, cost_before=round(cost_before, 6),
                     cost_after=round(head_cost(slots, cones), 6))
        if cones is not None:
            stats.update(gate_cost=cones.weight, logic_gates_before=gates_before,
                         logic_gates_after=cones.size(slots))
    return chosen, stats


def cross_entropy(scores: np.ndarray, truth: np.ndarray, tau: float) -> float:
    """The mean cross-entropy of the class scores [N, classes] / tau against one-hot truth."""
    z = scores / tau
    top = z.max(axis=1, keepdims=True)
    return float(np.mean(np.log(np.exp(z - top).sum(axis=1)) + top[:, 0]
                         - (z * truth).sum(axis=1)))


# Rounds the search goes on past the one with the lowest held-out objective: it fits the
# training set round after round, so the held-out loss wanders before it turns up for good.
HELD_OUT_PATIENCE = 3


class HeldOut:
    """Training samples kept out of the swap search, to stop it where it starts to fit
    its own samples rather than the task: their output bits [N, classes, G] and labels."""

    def __init__(self, outputs: np.ndarray, labels: np.ndarray):
        samples, classes, group = outputs.shape
        self.bits = np.ascontiguousarray(outputs.reshape(samples, classes * group),
                                         dtype=np.float32)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.truth = np.eye(classes)[self.labels]

    def loss(self, slots: np.ndarray, tau: float) -> float:
        """The cross-entropy of the head `slots` [classes, 2 * width] on these samples
        (a complemented slot scores 1 - bit)."""
        width = self.bits.shape[1]
        weights = (slots[:, :width] - slots[:, width:]).T.astype(np.float32)
        scores = self.bits @ weights + slots[:, width:].sum(axis=1)
        return cross_entropy(scores.astype(np.float64), self.truth, tau)


# A distinct signal's share of the head's cost beside its heap bits: a new output bit is a
# gate of the last layer (usually packed into a LUT6 with the gates before it). Measured on
# the 44k MNIST head at K=250: swapping added 224 distinct head bits, +234 head LUT6 and
# +78 logic LUT6 (0.35 each); rounded up, as the new gates also keep gates before them alive.
SIGNAL_COST = 0.5


def head_cost(slots: np.ndarray, cones: Cones | None = None) -> float:
    """The head's hardware cost from its slot multiplicities [classes, candidates]: each
    class's heap bits (a signal counted w times is one bit per set bit of w, see the Verilog
    backend's popcount), plus SIGNAL_COST per distinct signal of any class, plus (with
    `cones`) the logic gates the used output bits need."""
    heap = int(bit_count(slots).sum())
    cost = heap + SIGNAL_COST * int((slots.sum(axis=0) > 0).sum())
    return cost + (cones.cost(slots) if cones is not None else 0.0)


def marginal_costs(slots: np.ndarray, c: int, m: int = 1,
                   cones: Cones | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`head_cost`'s change when class c takes m more (or m fewer) of each candidate
    (exact for one candidate at a time)."""
    w, used = slots[c], slots.sum(axis=0)
    add = bit_count(w + m) - bit_count(w) + SIGNAL_COST * (used == 0)
    remove = bit_count(np.maximum(w - m, 0)) - bit_count(w) - SIGNAL_COST * (used == m)
    add, remove = add.astype(np.float64), remove.astype(np.float64)
    if cones is not None:
        cone_add, cone_remove = cones.marginal(slots, m)
        add, remove = add + cone_add, remove + cone_remove
    return add, remove


# A logic gate's share of the cost, in heap bits. Measured on the 44k MNIST net pruned to
# K=250 (bit cost 5e-6): the mapper packs its 5,486 gates (-O2) into 2,146 LUT6 (0.39 a
# gate), and its head cost of 1,639.5 took 1,428 head LUT6 (0.87 a unit): 0.39 / 0.87.
GATE_COST = 0.45
# The same for 6-input gates (--arity 6): the mapper gives each gate of those nets one LUT6
# (409 gates after -O2, 409 logic LUT6 for lut6n300e20's 50-bit head), so 1 / 0.87.
LUT6_GATE_COST = 1.15


@dataclass(frozen=True)
class Cones:
    """The logic each output bit of a trained net needs: the gates of its fan-in cone in
    the compiled circuit (the net's IR after -O2), as (output bit, gate) pairs. The dead-gate
    pass removes a gate once no kept output bit reads it, so the logic of a head is the
    union of its bits' cones: a bit whose cone is shared costs little, one with a cone of
    its own costs that cone (`weight` per gate)."""

    bit: np.ndarray  # int64 [pairs]: the output bit (0 .. width - 1)
    gate: np.ndarray  # int64 [pairs]: a gate of its cone (0 .. gates - 1)
    width: int
    gates: int
    weight: float = GATE_COST

    def used(self, slots: np.ndarray) -> np.ndarray:
        """int64 [width]: the slots (of any class, either polarity) holding each bit."""
        return slots.sum(axis=0).reshape(2, self.width).sum(axis=0)

    def readers(self, used: np.ndarray) -> np.ndarray:
        """float [gates]: how many used bits read each gate."""
        return np.bincount(self.gate, weights=(used > 0)[self.bit], minlength=self.gates)

    def size(self, slots: np.ndarray) -> int:
        """The gates the head's used bits need."""
        return int((self.readers(self.used(slots)) > 0).sum())

    def cost(self, slots: np.ndarray) -> float:
        return self.weight * self.size(slots)

    def marginal(self, slots: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
        """[2 * width] each: the cost's change when a class takes m more of a candidate (its
        bit's gates that no used bit reads yet, if the bit is unused) or m fewer (the gates
        only its bit reads, if those m slots are all that hold the bit)."""
        used = self.used(slots)
        readers = self.readers(used)
        # a used bit reads each gate of its cone: none has 0 readers, and 1 means only it
        new, alone = (np.bincount(self.bit, weights=(readers == n)[self.gate],
                                  minlength=self.width) for n in (0, 1))
        add = self.weight * new
        remove = -self.weight * alone * (used == m)
        return np.tile(add, 2), np.tile(remove, 2)


def logic_cones(model: Model, weight: float = GATE_COST) -> Cones:
    """The `Cones` of `model`'s output bits, from the circuit lgn-compile -O2 builds."""
    graph, _ = optimize_model(model, PRESETS[2])
    number = {node: i for i, node in enumerate(ir.nodes_of_kind(graph, ir.GATE))}
    bits, gates = [], []
    for out in ir.outputs(graph):
        driver = ir.operands(graph, out)[0]
        cone = [number[n] for n in nx.ancestors(graph, driver) | {driver} if n in number]
        bits += [graph.nodes[out]["index"]] * len(cone)
        gates += cone
    return Cones(np.asarray(bits, dtype=np.int64), np.asarray(gates, dtype=np.int64),
                 len(model.layers[-1].tables), len(number), weight)


def bit_count(values: np.ndarray) -> np.ndarray:
    """The number of set bits of each non-negative integer in `values`."""
    values, count = values.copy(), np.zeros_like(values)
    while values.any():
        count += values & 1
        values >>= 1
    return count


def same_columns(bits: np.ndarray) -> np.ndarray:
    """int64 [2 * width]: for each candidate (a bit, then the complements), the first
    candidate with the same values on every sample of `bits` [N, width] (itself if none)."""
    packed = np.packbits(bits.astype(bool), axis=0)
    flipped = np.packbits(~bits.astype(bool), axis=0)
    first: dict[bytes, int] = {}
    canon = np.empty(2 * bits.shape[1], dtype=np.int64)
    for j, col in enumerate([*packed.T, *flipped.T]):
        canon[j] = first.setdefault(col.tobytes(), j)
    return canon


def narrow_head(net: LogicNet, keep: np.ndarray, tau: float | None = None,
                swapped: bool = False) -> LogicNet:
    """A net whose last layer is only the `keep` [classes, group] bits of `net`'s (the
    layers before are shared, not copied). The narrowed layer has fixed wiring (the picks
    of a learnable layer) and the kept gates' parameters, so its discrete gates are exactly
    the kept ones. `swapped`: `keep` holds `swap_slots` candidates (any class's bit, or
    its complement: the gate with its truth table complemented)."""
    if type(net) is not LogicNet:
        raise LgnError("only a dense net's head can be narrowed (a conv net ends in its "
                       "own blocks)")
    last = net.layers[-1]
    width = net.layer_sizes[-1]
    limit = 2 * width if swapped else width // net.num_classes
    keep = np.asarray(keep, dtype=np.int64)
    if keep.ndim != 2 or keep.shape[0] != net.num_classes or keep.size == 0 or \
            keep.min() < 0 or keep.max() >= limit:
        raise LgnError(f"keep must be [{net.num_classes}, k] indices below {limit}")
    if not swapped:
        keep = keep + limit * np.arange(net.num_classes)[:, None]
    flat = keep.reshape(-1)
    rows, complement = torch.from_numpy(flat % width), torch.from_numpy(flat >= width)
    options = {"activation": last.activation} if last.activation else {}
    narrow = LogicLayer(last.in_dim, len(rows), last.parametrization, "random",
                        seed=last.seed, init=last.init, arity=last.arity,
                        init_strength=last.init_strength, sampling=last.sampling,
                        gumbel_tau=last.gumbel_tau, **options)
    with torch.no_grad():
        narrow.indices.copy_(last.wiring().detach()[:, rows].cpu())
        logits = last.logits.detach()[rows].cpu()
        if complement.any():
            logits[complement] = complement_params(last, logits[complement])
        narrow.logits.copy_(logits)
    return LogicNet.from_layers(net.num_inputs, [*net.layers[:-1], narrow], net.num_classes,
                                net.tau if tau is None else tau)


def complement_params(layer: LogicLayer, theta: torch.Tensor) -> torch.Tensor:
    """Parameters of the gates `theta` with their truth tables complemented, exactly (the
    relaxed table is 1 - w where that gives the complement; a tie on the rounding edge gets
    the hard table)."""
    param = layer.param
    want = 1 - param.tables(theta)
    if hasattr(param, "params_for_weights"):
        flipped = param.params_for_weights(1 - param.weights(theta))
    else:  # softmax16: the complement of op g is op 15 - g (difflogic's order)
        flipped = theta.flip(-1)
    wrong = (param.tables(flipped) != want).any(dim=-1)
    if wrong.any():
        flipped[wrong] = param.params_for_tables(want[wrong].to(torch.int64), 10.0)
    return flipped


def scaled_tau(tau: float, trained: int, kept: int) -> float:
    """GroupSum tau for `kept` bits per class of a net trained with `tau` at `trained`."""
    return tau * math.sqrt(kept / trained)
