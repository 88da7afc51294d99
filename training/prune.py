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
"""

from __future__ import annotations

import math

import numpy as np
import torch

from lgn_compile.errors import LgnError

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


def narrow_head(net: LogicNet, keep: np.ndarray, tau: float | None = None) -> LogicNet:
    """A net whose last layer is only the `keep` [classes, group] bits of `net`'s (the
    layers before are shared, not copied). The narrowed layer has fixed wiring (the picks
    of a learnable layer) and the kept gates' parameters, so its discrete gates are exactly
    the kept ones."""
    if type(net) is not LogicNet:
        raise LgnError("only a dense net's head can be narrowed (a conv net ends in its "
                       "own blocks)")
    last = net.layers[-1]
    group = net.layer_sizes[-1] // net.num_classes
    keep = np.asarray(keep, dtype=np.int64)
    if keep.ndim != 2 or keep.shape[0] != net.num_classes or keep.size == 0 or \
            keep.min() < 0 or keep.max() >= group:
        raise LgnError(f"keep must be [{net.num_classes}, k] indices below {group}")
    rows = torch.from_numpy((keep + group * np.arange(net.num_classes)[:, None]).reshape(-1))
    options = {"activation": last.activation} if last.activation else {}
    narrow = LogicLayer(last.in_dim, len(rows), last.parametrization, "random",
                        seed=last.seed, init=last.init, arity=last.arity,
                        init_strength=last.init_strength, sampling=last.sampling,
                        gumbel_tau=last.gumbel_tau, **options)
    with torch.no_grad():
        narrow.indices.copy_(last.wiring().detach()[:, rows].cpu())
        narrow.logits.copy_(last.logits.detach()[rows].cpu())
    return LogicNet.from_layers(net.num_inputs, [*net.layers[:-1], narrow], net.num_classes,
                                net.tau if tau is None else tau)


def scaled_tau(tau: float, trained: int, kept: int) -> float:
    """GroupSum tau for `kept` bits per class of a net trained with `tau` at `trained`."""
    return tau * math.sqrt(kept / trained)
