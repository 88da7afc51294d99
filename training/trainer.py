"""Training loop: Adam on cross-entropy of the relaxed net, with soft and discrete evaluation."""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from lgn_compile.errors import LgnError

from .layers import LogicNet


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """"auto" -> CUDA when available, else CPU; anything else must be a usable torch device."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise LgnError(f"invalid device {device!r} (use auto, cpu, cuda or cuda:N)") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise LgnError(f"device {device!r} requested but CUDA is not available "
                       "(use --device cpu or auto)")
    if resolved.type not in ("cpu", "cuda"):
        raise LgnError(f"unsupported device {device!r} (use auto, cpu, cuda or cuda:N)")
    return resolved


@torch.no_grad()
def soft_accuracy(net: LogicNet, bits: torch.Tensor, labels: torch.Tensor,
                  batch_size: int = 4096) -> float:
    """Accuracy of the relaxed (train-mode) forward."""
    was_training = net.training
    net.train()
    correct = 0
    for start in range(0, len(bits), batch_size):
        scores = net(bits[start:start + batch_size].float())
        correct += (scores.argmax(-1) == labels[start:start + batch_size]).sum().item()
    net.train(was_training)
    return correct / max(len(bits), 1)


@torch.no_grad()
def discrete_accuracy(net: LogicNet, bits: torch.Tensor, labels: torch.Tensor,
                      batch_size: int = 4096) -> float:
    """Accuracy of the discretized network (integer popcounts, argmax ties to the lowest)."""
    correct = 0
    for start in range(0, len(bits), batch_size):
        scores = net.discrete_scores(bits[start:start + batch_size])
        correct += (scores.argmax(-1) == labels[start:start + batch_size]).sum().item()
    return correct / max(len(bits), 1)


def train(net: LogicNet, train_bits, train_labels, test_bits=None, test_labels=None, *,
          epochs: int = 100, steps: int | None = None, lr: float = 0.05,
          batch_size: int = 128, seed: int = 0, device="auto", eval_every: int | None = None,
          progress: bool = True, log=None) -> dict:
    """Train `net` with Adam on softmax cross-entropy of its relaxed scores.

    Args:
        train_bits, test_bits: 0/1 inputs [N, num_inputs] (numpy or torch).
        train_labels, test_labels: int class labels [N].
        epochs: passes over the training set (ignored when `steps` is given).
        steps: total optimizer steps instead of epochs.
        lr, batch_size: Adam learning rate, minibatch size.
        seed: seeds the minibatch order; with the net's own seeded init, a run on the CPU is
            reproducible bit for bit (for a fixed number of torch threads).
        device: "auto" (CUDA if available), "cpu", "cuda", ...
        eval_every: evaluate (soft + discrete accuracy) every this many epochs
            (default: about 5 times per run, and always at the end).
        progress: show a tqdm progress bar on stderr.
        log: function printing one line (default: tqdm.write, so it does not break the bar).

    Returns a metrics dict: train_soft, train_discrete, test_soft, test_discrete (floats in
    [0, 1], test ones only with test data), epochs, steps, seconds, device, history (a list
    of per-evaluation dicts).
    """
    device = resolve_device(device)
    log = log or (lambda line: tqdm.write(line))
    x_train = _to_tensor(train_bits, torch.float32, device)
    y_train = _to_tensor(train_labels, torch.int64, device)
    has_test = test_bits is not None and test_labels is not None
    if has_test:
        x_test = _to_tensor(test_bits, torch.float32, device)
        y_test = _to_tensor(test_labels, torch.int64, device)
    n = len(x_train)
    if n == 0 or len(y_train) != n:
        raise LgnError(f"need matching non-empty training bits and labels ({n} vs {len(y_train)})")
    if batch_size < 1 or lr <= 0:
        raise LgnError("batch size and learning rate must be positive")
    steps_per_epoch = math.ceil(n / batch_size)
    total_steps = int(steps) if steps is not None else int(epochs) * steps_per_epoch
    if total_steps < 1:
        raise LgnError("nothing to train: epochs/steps must be at least 1")
    total_epochs = math.ceil(total_steps / steps_per_epoch)
    if eval_every is None:
        eval_every = max(1, total_epochs // 5)

    net.to(device)
    net.train()
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    history = []

    def evaluate(epoch: int) -> dict:
        row = {"epoch": epoch, "train_soft": soft_accuracy(net, x_train, y_train),
               "train_discrete": discrete_accuracy(net, x_train, y_train)}
        if has_test:
            row["test_soft"] = soft_accuracy(net, x_test, y_test)
            row["test_discrete"] = discrete_accuracy(net, x_test, y_test)
        history.append(row)
        shown = "  ".join(f"{k} {v:6.2%}" for k, v in row.items() if k != "epoch")
        log(f"epoch {epoch:4d}  loss {running_loss:.4f}  {shown}")
        return row

    start = time.perf_counter()
    step, epoch, running_loss = 0, 0, float("nan")
    bar = tqdm(total=total_steps, desc="training", unit="step",
               disable=None if progress else True,  # None: no bar when stderr is not a TTY
               dynamic_ncols=True, leave=False)
    try:
        while step < total_steps:
            order = torch.randperm(n, generator=gen).to(device)
            for i in range(0, n, batch_size):
                if step >= total_steps:
                    break
                batch = order[i:i + batch_size]
                loss = loss_fn(net(x_train[batch]), y_train[batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                value = loss.item()
                running_loss = (value if math.isnan(running_loss)
                                else 0.9 * running_loss + 0.1 * value)
                step += 1
                bar.update(1)
                if step % 10 == 0:
                    bar.set_postfix(loss=f"{running_loss:.3f}", epoch=epoch + 1)
            epoch += 1
            if epoch % eval_every == 0 and step < total_steps:
                evaluate(epoch)
    finally:
        bar.close()
    final = evaluate(epoch)
    net.train()
    metrics = {k: v for k, v in final.items() if k != "epoch"}
    metrics.update(epochs=epoch, steps=step, seconds=time.perf_counter() - start,
                   device=str(device), history=history)
    return metrics


def _to_tensor(data, dtype, device) -> torch.Tensor:
    if isinstance(data, torch.Tensor):
        return data.to(device=device, dtype=dtype)
    return torch.as_tensor(np.asarray(data), dtype=dtype, device=device)
