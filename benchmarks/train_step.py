"""Training-step cost of the gate parametrizations: softmax16 vs IWP, soft vs Gumbel.

The same network (MNIST-sized input, equal layer widths) is trained one step at a time;
per variant we report the fastest forward and backward time over the timed steps (the
minimum, robust to other jobs on a shared machine) and the memory the
step needs: on the CPU the bytes autograd saves for the backward pass (activations, counted
once per storage) plus parameters, gradients and Adam state; on CUDA the peak of
`torch.cuda.max_memory_allocated`. Variants:

- softmax16: lgn_train's softmax over 16 gates, folded into the expected truth table (4
  weights per neuron) before touching the batch;
- softmax16-difflogic: the same relaxation computed the way difflogic's Python path does
  it, all 16 real-valued ops per sample weighted by the softmax (the Light DLGN paper's
  baseline);
- iwp (k=2, and k=4 at the same widths), with soft or Gumbel (straight-through) sampling;
- learnable wiring (`--connections learnable`) at the same gate count: each operand picks
  among 16 (or 64) candidates, straight-through (hard, the default) or the softmax mixture
  (soft), or in the first layer among all its inputs ("learnall,16"); the column "vs
  fixed" is its step time over the same gates with fixed wiring. The fused Adam update is
  timed apart (column "adam ms", in the JSON `optimizer_ms`): it grows with the logits.

Variants are measured in interleaved rounds (every variant once per round, best step over
all rounds), so a machine whose speed wanders affects all of them alike.

    python benchmarks/train_step.py                 # CPU (and CUDA when available)
    python benchmarks/train_step.py --layers 8000,8000,8000,8000,8000,8000 --batch-size 256
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from lgn_train import LogicLayer, LogicNet
from lgn_train.layers import layer_options_at, param_groups
from machine import cpu_model  # benchmarks/ is the script's directory

RESULTS = Path(__file__).resolve().parent / "results" / "train_step.json"
# (name, parametrization, arity, sampling, difflogic-style 16-op forward[, wiring options])
LEARNABLE_16 = {"connections": "learnable", "candidates": 16, "candidate_group": 32}
VARIANTS = [("softmax16", "softmax16", 2, "soft", False),
            ("softmax16-difflogic", "softmax16", 2, "soft", True),
            ("softmax16+gumbel", "softmax16", 2, "gumbel", False),
            ("iwp", "iwp", 2, "soft", False),
            ("iwp+gumbel", "iwp", 2, "gumbel", False),
            ("iwp k=4", "iwp", 4, "soft", False),
            ("iwp k=4+gumbel", "iwp", 4, "gumbel", False),
            ("softmax16 learn16", "softmax16", 2, "soft", False, LEARNABLE_16),
            ("iwp learn16", "iwp", 2, "soft", False, LEARNABLE_16),
            ("iwp learn16 soft", "iwp", 2, "soft", False,
             {**LEARNABLE_16, "connection_relax": "soft"}),
            ("iwp learn64", "iwp", 2, "soft", False,
             {"connections": "learnable", "candidates": 64, "candidate_group": 64}),
            ("iwp k=4 learn16", "iwp", 4, "soft", False, LEARNABLE_16),
            # the first layer picks among all its inputs, the deeper ones among 16
            ("iwp learnall,16", "iwp", 2, "soft", False,
             {**LEARNABLE_16, "candidates": "first-all"})]

# difflogic's 16 real-valued ops (op id order), as its bin_op evaluates them one by one
DIFFLOGIC_OPS = [
    lambda a, b: torch.zeros_like(a), lambda a, b: a * b, lambda a, b: a - a * b,
    lambda a, b: a, lambda a, b: b - a * b, lambda a, b: b, lambda a, b: a + b - 2 * a * b,
    lambda a, b: a + b - a * b, lambda a, b: 1 - (a + b - a * b),
    lambda a, b: 1 - (a + b - 2 * a * b), lambda a, b: 1 - b, lambda a, b: 1 - b + a * b,
    lambda a, b: 1 - a, lambda a, b: 1 - a + a * b, lambda a, b: 1 - a * b,
    lambda a, b: torch.ones_like(a),
]


class DifflogicLayer(LogicLayer):
    """softmax16 computed as difflogic's `bin_op_s`: sum over ops of p_op * op(a, b)."""

    def forward_relaxed(self, x, sample=False):
        a, b = self._operands(x)
        probs = torch.softmax(self.logits, dim=-1)
        out = torch.zeros_like(a)
        for op, fn in enumerate(DIFFLOGIC_OPS):
            out = out + probs[:, op] * fn(a, b)
        return out


def build(variant, num_inputs: int, sizes: list[int], num_classes: int) -> LogicNet:
    name, parametrization, arity, sampling, difflogic, *wiring = variant
    cls = DifflogicLayer if difflogic else LogicLayer
    dims = [num_inputs] + sizes
    options = dict(wiring[0]) if wiring else {}
    if options.get("candidates") == "first-all":
        options["candidates"] = [0] + [16] * (len(sizes) - 1)
    layers = [cls(dims[i], dims[i + 1], parametrization, arity=arity, sampling=sampling, seed=i,
                  **layer_options_at(options, i, len(sizes)))
              for i in range(len(sizes))]
    return LogicNet.from_layers(num_inputs, layers, num_classes, tau=10.0)


def saved_bytes(net, x, y) -> int:
    """Bytes autograd keeps for the backward pass of one step (each storage once)."""
    storages = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = torch.nn.functional.cross_entropy(net(x), y)
    del loss
    return sum(storages.values())


def measure(variant, device, args) -> dict:
    torch.manual_seed(0)
    sizes = [int(s) for s in args.layers.split(",")]
    net = build(variant, args.inputs, sizes, 10).to(device).train()
    optimizer = torch.optim.Adam(param_groups(net, 0.01), fused=True)  # as lgn_train's
    x = torch.randint(0, 2, (args.batch_size, args.inputs), device=device).float()
    y = torch.randint(0, 10, (args.batch_size,), device=device)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    forward, backward, adam = [], [], []
    for rep in range(args.warmup + args.reps):
        sync()
        t0 = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        sync()
        t1 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        sync()
        t2 = time.perf_counter()
        optimizer.step()
        sync()
        if rep >= args.warmup:
            forward.append(t1 - t0)
            backward.append(t2 - t1)
            adam.append(time.perf_counter() - t2)
    params = sum(p.numel() * p.element_size() for p in net.parameters())
    row = {"variant": variant[0], "device": device.type, "gates": sum(sizes),
           "forward_ms": 1e3 * min(forward), "backward_ms": 1e3 * min(backward),
           "forward_median_ms": 1e3 * statistics.median(forward),
           "backward_median_ms": 1e3 * statistics.median(backward),
           "params_mib": params / 2**20, "optimizer_ms": 1e3 * min(adam)}
    row["step_ms"] = row["forward_ms"] + row["backward_ms"]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        row["memory_mib"] = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:  # saved activations + parameters, their gradients and Adam's two moments
        row["memory_mib"] = (saved_bytes(net, x, y) + 4 * params) / 2**20
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--layers", default="8000,8000,8000,8000",
                   help="gates per layer (default: 8000,8000,8000,8000)")
    p.add_argument("--inputs", type=int, default=784, help="input bits (default: 784)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--reps", type=int, default=5, help="timed steps per variant and round")
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default: 2)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, help="CPU threads (default: torch's)")
    p.add_argument("--output", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    rows = []
    header = (f"{'variant':22} {'device':6} {'fwd ms':>9} {'bwd ms':>9} {'step ms':>9} "
              f"{'memory MiB':>11} {'bwd vs sm16':>11} {'mem vs sm16':>11} {'vs fixed':>9} "
              f"{'adam ms':>8}")
    print(f"layers {args.layers}, {args.inputs} inputs, batch {args.batch_size}, "
          f"best of {args.reps} steps, {torch.get_num_threads()} CPU threads")
    print(header)
    for device in devices:
        base, best = None, {}
        for _ in range(args.rounds):  # keep each variant's best round
            for variant in VARIANTS:
                row = measure(variant, device, args)
                if variant[0] not in best or row["step_ms"] < best[variant[0]]["step_ms"]:
                    best[variant[0]] = row
        for variant in VARIANTS:
            row = best[variant[0]]
            base = base or row
            if len(variant) > 5:  # learnable wiring: vs the same gates with fixed wiring
                fixed = next(best[v[0]] for v in VARIANTS if v[1:5] == variant[1:5])
                row["step_vs_fixed"] = row["step_ms"] / fixed["step_ms"]
                row["memory_vs_fixed"] = row["memory_mib"] / fixed["memory_mib"]
            row["backward_vs_softmax16"] = base["backward_ms"] / row["backward_ms"]
            row["memory_vs_softmax16"] = row["memory_mib"] / base["memory_mib"]
            rows.append(row)
            print(f"{row['variant']:22} {row['device']:6} {row['forward_ms']:9.2f} "
                  f"{row['backward_ms']:9.2f} {row['step_ms']:9.2f} {row['memory_mib']:11.1f} "
                  f"{row['backward_vs_softmax16']:10.2f}x {row['memory_vs_softmax16']:10.2f}x"
                  + (f" {row['step_vs_fixed']:8.2f}x" if "step_vs_fixed" in row else " " * 10)
                  + f" {row['optimizer_ms']:8.2f}", flush=True)
        difflogic = next(r for r in rows if r["device"] == device.type
                         and r["variant"] == "softmax16-difflogic")
        for row in rows:
            if row["device"] == device.type:
                row["backward_speedup_vs_softmax16_difflogic"] = (difflogic["backward_ms"]
                                                                  / row["backward_ms"])
                row["memory_vs_softmax16_difflogic"] = row["memory_mib"] / difflogic["memory_mib"]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({
        "benchmark": "train_step", "layers": args.layers, "inputs": args.inputs,
        "batch_size": args.batch_size, "reps": args.reps, "rounds": args.rounds,
        "threads": torch.get_num_threads(), "cpu": cpu_model(),
        "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
        "rows": rows}, indent=1) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
