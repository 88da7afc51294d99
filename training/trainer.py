"""Training loop: Adam on cross-entropy of the relaxed (or Gumbel-sampled) net; evaluation of
soft and discrete accuracy, discretization gap and gate utilization; checkpoint + resume;
DistributedDataParallel under torchrun; metrics as JSON, CSV and a PNG of the curves."""

from __future__ import annotations

import csv
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from lgn_compile.errors import LgnError

from .layers import LogicNet, param_groups


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
    """Accuracy of the relaxed forward (expected gates, no Gumbel sampling)."""
    correct = 0
    for start in range(0, len(bits), batch_size):
        scores = net.forward_relaxed(bits[start:start + batch_size].float())
        correct += (scores.argmax(-1) == labels[start:start + batch_size]).sum().item()
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


def distributed_setup(device) -> tuple[int, int, torch.device]:
    """(rank, world size, device) of this process. Under `torchrun` (WORLD_SIZE > 1) this
    joins the process group: NCCL with one GPU per process (cuda:LOCAL_RANK) when CUDA is
    used, gloo on the CPU."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = resolve_device(device)
    if world <= 1:
        return 0, 1, device
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return dist.get_rank(), dist.get_world_size(), device


def train(net: LogicNet, train_bits, train_labels, test_bits=None, test_labels=None, *,
          epochs: int = 100, steps: int | None = None, lr: float = 0.05,
          batch_size: int = 128, seed: int = 0, device="auto", eval_every: int | None = None,
          progress: bool = True, log=None, checkpoint=None, checkpoint_every: int = 1,
          resume: dict | None = None, train_eval_limit: int = 10_000,
          connection_lr: float | None = None, augment=None, lr_decay_epochs: int = 0) -> dict:
    """Train `net` with Adam on softmax cross-entropy of its relaxed (or Gumbel) scores.

    Args:
        train_bits, test_bits: 0/1 inputs [N, num_inputs] (numpy or torch).
        train_labels, test_labels: int class labels [N].
        epochs: passes over the training set (ignored when `steps` is given).
        steps: total optimizer steps instead of epochs.
        lr, batch_size: Adam learning rate, global minibatch size.
        seed: seeds the minibatch order and the Gumbel noise; with the net's own seeded
            init, a run on the CPU is reproducible bit for bit (for a fixed thread count).
        device: "auto" (CUDA if available), "cpu", "cuda", ...
        eval_every: evaluate every this many epochs (default: about 5 times per run, and
            always at the end): soft and discrete accuracy, the discretization gap (soft -
            discrete, on the test set when given) and gate utilization.
        progress: show a tqdm progress bar on stderr.
        log: function printing one line (default: tqdm.write, so it does not break the bar).
        checkpoint: called as `checkpoint(state)` every `checkpoint_every` epochs and at the
            end (on rank 0) with the training state (plain types and tensors) that
            `resume` accepts; the net's own parameters are not in it.
        resume: a state from `checkpoint`: continue that run (the net must hold the
            parameters saved with it).
        train_eval_limit: training accuracies are measured on at most this many (the
            first) training samples, which keeps evaluation cheap on big datasets.
        connection_lr: Adam learning rate of learnable wiring's logits (default: lr).
        augment: called as `augment(bits, generator)` on each training minibatch (e.g.
            `augment.RandomShift`); its generator is seeded by (seed, step, rank), so a
            resumed run draws what the uninterrupted one would have.
        lr_decay_epochs: anneal every group's learning rate to 0 along a half cosine over
            the run's last this many epochs (`lr_factor`); 0 keeps it constant. The rate is
            a function of the step, so a resumed run follows the same schedule.

    Under `torchrun` (see `distributed_setup`) every process takes its share of each
    global minibatch and DistributedDataParallel averages the gradients; all processes draw
    the same Gumbel samples (same seed), and only rank 0 logs and checkpoints.

    Returns a metrics dict: train_soft, train_discrete, test_soft, test_discrete (floats in
    [0, 1], test ones only with test data), gap, utilization, epochs, steps, seconds,
    device, history (a list of per-evaluation dicts), loss_trace ([step, running loss]
    about 500 times a run), train_eval_samples (how many training samples the train
    accuracies were measured on).
    """
    rank, world, device = distributed_setup(device)
    log = log or (lambda line: tqdm.write(line))
    if rank:
        log, progress = (lambda line: None), False
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
    # about 16M gate activations per evaluation batch (a conv net's gates are unrolled)
    eval_batch = max(64, min(4096, (1 << 24) // max(net.num_gates, 1)))

    net.to(device)
    net.train()
    model = net
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda"
                                        else None)
    # fused: one pass over each parameter instead of Adam's ~10 (a third of a step where
    # learnable wiring reads every input; the same update up to rounding)
    optimizer = torch.optim.Adam(param_groups(net, lr, connection_lr),
                                 fused=device.type in ("cpu", "cuda"))
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    decay_steps = min(total_steps, max(0, int(lr_decay_epochs)) * steps_per_epoch)
    loss_fn = nn.CrossEntropyLoss()
    order_gen, augment_gen = torch.Generator().manual_seed(seed), torch.Generator()
    torch.manual_seed(seed)  # the Gumbel noise: the same on every process
    step, epoch, running_loss, history, spent, loss_trace = 0, 0, float("nan"), [], 0.0, []
    if resume is not None:
        step, epoch, running_loss, spent, history, loss_trace = restore_state(
            resume, optimizer, order_gen)
    trace_every = max(1, total_steps // 500)  # the loss curve: about 500 points a run
    start = time.perf_counter() - spent

    def evaluate() -> dict:
        net.eval()
        x, y = x_train[:train_eval_limit], y_train[:train_eval_limit]
        row = {"epoch": epoch, "step": step, "loss": running_loss,
               "train_soft": soft_accuracy(net, x, y, eval_batch),
               "train_discrete": discrete_accuracy(net, x, y, eval_batch)}
        if has_test:
            row["test_soft"] = soft_accuracy(net, x_test, y_test, eval_batch)
            row["test_discrete"] = discrete_accuracy(net, x_test, y_test, eval_batch)
        split = "test" if has_test else "train"
        row["gap"] = row[f"{split}_soft"] - row[f"{split}_discrete"]
        row["utilization"] = net.gate_utilization()
        row["seconds"] = time.perf_counter() - start
        net.train()
        history.append(row)
        shown = "  ".join(f"{k} {row[k]:6.2%}" for k in METRIC_KEYS if k in row)
        log(f"epoch {epoch:4d}  loss {running_loss:.4f}  {shown}")
        return row

    def state() -> dict:
        return {"optimizer": optimizer.state_dict(), "order_rng": order_gen.get_state(),
                "torch_rng": torch.get_rng_state(), "step": step, "epoch": epoch,
                "loss": running_loss, "seconds": time.perf_counter() - start,
                "history": [dict(row) for row in history],
                "loss_trace": [list(point) for point in loss_trace]}

    bar = tqdm(total=total_steps, initial=min(step, total_steps), desc="training", unit="step",
               disable=None if progress else True,  # None: no bar when stderr is not a TTY
               dynamic_ncols=True, leave=False)
    try:
        while step < total_steps:
            order = torch.randperm(n, generator=order_gen).to(device)
            for i in range(0, n, batch_size):
                if step >= total_steps:
                    break
                batch = order[i:i + batch_size][rank::world]
                inputs = x_train[batch]
                if augment is not None:
                    inputs = augment(inputs, augment_gen.manual_seed(
                        (seed * 1_000_003 + step) * 1009 + rank))
                loss = loss_fn(model(inputs), y_train[batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if decay_steps:
                    factor = lr_factor(step, total_steps, decay_steps)
                    for group, base in zip(optimizer.param_groups, base_lrs):
                        group["lr"] = base * factor
                optimizer.step()
                value = loss.item()
                running_loss = (value if math.isnan(running_loss)
                                else 0.9 * running_loss + 0.1 * value)
                step += 1
                if step % trace_every == 0:
                    loss_trace.append([step, running_loss])
                bar.update(1)
                if step % 10 == 0:
                    bar.set_postfix(loss=f"{running_loss:.3f}", epoch=epoch + 1)
            epoch += 1
            if epoch % eval_every == 0 and step < total_steps:
                evaluate()
            if checkpoint is not None and not rank and epoch % checkpoint_every == 0:
                checkpoint(state())
    finally:
        bar.close()
    final = evaluate()
    if checkpoint is not None and not rank:
        checkpoint(state())
    metrics = {k: v for k, v in final.items() if k not in ("epoch", "step", "loss")}
    metrics.update(epochs=epoch, steps=step, seconds=time.perf_counter() - start,
                   device=str(device), history=history, loss_trace=loss_trace,
                   train_eval_samples=min(n, train_eval_limit))
    return metrics


def lr_factor(step: int, total_steps: int, decay_steps: int) -> float:
    """The learning rate's multiplier for the update at `step` (0-based): 1 until the last
    `decay_steps` updates, then a half cosine from 1 down towards 0 (the last update keeps
    a small non-zero rate): with a constant rate the relaxed gates and picks still move
    at the end of a run, and the discrete net is whatever the last minibatch left."""
    start = total_steps - decay_steps
    if decay_steps <= 0 or step < start:
        return 1.0
    return 0.5 * (1.0 + math.cos(math.pi * (step - start) / decay_steps))


METRIC_KEYS = ("train_soft", "train_discrete", "test_soft", "test_discrete", "gap",
               "utilization")
ADAM_MOMENTS = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")


def restore_state(resume, optimizer, order_gen) -> tuple:
    """Load a checkpoint's training state, every field checked first, so a damaged or
    hostile checkpoint is one LgnError: counters are ints >= 0, loss/seconds numbers, both
    RNG states valid byte tensors, Adam's moments finite and shaped like their parameters.
    The optimizer keeps this run's hyperparameters (lr, betas): only the moments are read.
    Returns (step, epoch, running loss, seconds spent, history, loss trace)."""
    def need(ok: bool, what: str) -> None:
        if not ok:
            raise LgnError(f"checkpoint's training state: {what}")

    def number(value) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    need(isinstance(resume, dict), "not a dict")
    step, epoch, loss, spent = (resume.get(key) for key in ("step", "epoch", "loss", "seconds"))
    need(type(step) is int and type(epoch) is int and step >= 0 and epoch >= 0,
         f"step and epoch must be ints >= 0, got {step!r:.40} and {epoch!r:.40}")
    need(number(loss) and number(spent) and math.isfinite(spent) and spent >= 0,
         "loss and seconds must be numbers (seconds finite and >= 0)")
    history = resume.get("history")
    need(isinstance(history, list) and all(
        isinstance(row, dict) and all(isinstance(k, str) and number(v) for k, v in row.items())
        for row in history), "history must be a list of dicts of numbers")
    trace = resume.get("loss_trace", [])  # absent in checkpoints written before it existed
    need(isinstance(trace, list) and all(
        isinstance(point, list) and len(point) == 2 and type(point[0]) is int
        and number(point[1]) for point in trace), "loss_trace must be a list of [step, loss]")
    saved = resume.get("optimizer")
    need(isinstance(saved, dict) and isinstance(saved.get("state"), dict),
         "optimizer must be an optimizer state_dict")
    params = [param for group in optimizer.param_groups for param in group["params"]]
    for key, entry in saved["state"].items():
        need(type(key) is int and 0 <= key < len(params) and isinstance(entry, dict),
             f"optimizer state for a parameter {key!r:.40} the net does not have")
        for name, value in entry.items():
            tensor = isinstance(value, torch.Tensor) and value.is_floating_point()
            if name == "step":
                need((number(value) or tensor and value.numel() == 1)
                     and math.isfinite(float(value)) and float(value) >= 0,
                     f"optimizer step of parameter {key} must be a number >= 0")
            else:
                need(name in ADAM_MOMENTS and tensor and value.shape == params[key].shape
                     and bool(torch.isfinite(value).all())
                     and (name == "exp_avg" or bool((value >= 0).all())),
                     f"optimizer entry {name!r:.40} of parameter {key} must be one of Adam's "
                     f"finite moments shaped {tuple(params[key].shape)}")
    optimizer.load_state_dict({"state": saved["state"],
                               "param_groups": optimizer.state_dict()["param_groups"]})
    for name, get, put in (("order_rng", order_gen.get_state, order_gen.set_state),
                           ("torch_rng", torch.get_rng_state, torch.set_rng_state)):
        value, current = resume.get(name), get()
        need(isinstance(value, torch.Tensor) and value.dtype == torch.uint8
             and value.shape == current.shape, f"{name} must be a uint8 tensor of "
             f"{current.numel()} bytes")
        try:
            put(value)
        except RuntimeError as exc:  # torch checks the generator state's content itself
            raise LgnError(f"checkpoint's training state: {name} is not a valid generator "
                           f"state ({exc})") from None
    return (step, epoch, float(loss), float(spent), [dict(row) for row in history],
            [list(point) for point in trace])


def write_metrics(history: list[dict], directory, title: str | None = None,
                  loss_trace: list | None = None) -> list[Path]:
    """metrics.json, metrics.csv (one row per evaluation) and curves.png in `directory`;
    returns the paths written. The PNG has one panel per quantity, each on its own scale:
    accuracies in %, the discretization gap in points, gate use in %, and the training
    loss against steps (`loss_trace`, else the loss at each evaluation); `title` names
    the run (dataset, gates, parametrization)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.ticker import MaxNLocator

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / name for name in ("metrics.json", "metrics.csv", "curves.png")]
    paths[0].write_text(json.dumps(history, indent=1) + "\n")
    columns = list(dict.fromkeys(key for row in history for key in row))
    with open(paths[1], "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(history)
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    epochs = [row["epoch"] for row in history]

    def percent(key):
        return [100 * row.get(key, float("nan")) for row in history]

    acc_ax, gap_ax, use_ax, loss_ax = axes.flat
    for key in ("train_soft", "train_discrete", "test_soft", "test_discrete"):
        if any(key in row for row in history):
            acc_ax.plot(epochs, percent(key), marker=".", label=key.replace("_", " "),
                        linestyle="--" if key.endswith("soft") else "-")
    acc_ax.set(ylabel="accuracy (%)", title="accuracy")
    acc_ax.legend(fontsize="small")
    gap_ax.plot(epochs, percent("gap"), marker=".", color="tab:red")
    gap_ax.axhline(0, color="grey", linewidth=0.5)
    gap_ax.set(ylabel="soft - discrete (points)", title="discretization gap")
    use_ax.plot(epochs, percent("utilization"), marker=".", color="tab:green")
    use_ax.set(ylabel="gates used (%)", title="gate use (non-constant gates an output needs)")
    for ax in (acc_ax, gap_ax, use_ax):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    trace = loss_trace or [[row["step"], row["loss"]] for row in history]
    loss_ax.plot([point[0] for point in trace], [point[1] for point in trace])
    loss_ax.set(xlabel="step", ylabel="cross-entropy (running mean)", title="training loss")
    loss_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    loss_ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(paths[2], dpi=100)
    plt.close(fig)
    return paths


def _to_tensor(data, dtype, device) -> torch.Tensor:
    if isinstance(data, torch.Tensor):
        return data.to(device=device, dtype=dtype)
    return torch.as_tensor(np.asarray(data), dtype=dtype, device=device)
