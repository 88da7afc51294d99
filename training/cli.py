"""`lgn-train`: train a logic gate network on a dataset and save it as a model file.

User errors (unknown dataset, bad flags, an output that cannot be written) print one line
`lgn-train: error: ...` on stderr and exit 2; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

from lgn_compile import __version__
from lgn_compile.errors import LgnError, OneLineParser, run_command
from lgn_compile.model_file import MAX_GATES, MAX_INPUTS

from .augment import RandomShift
from .data import DATASETS, ENCODER_METHODS
from .layers import CONNECTION_RELAXES, CONNECTIONS, INITS, IWP_ACTIVATIONS, PARAMETRIZATIONS, SAMPLINGS
from .prune import GATE_COST, HELD_OUT_PATIENCE, LUT6_GATE_COST

# Defaults tuned on digits: ~96-97% discrete test accuracy, 4000 gates, seconds on 2 cores.
DEFAULTS = {"layers": "2000,2000", "tau": 5.0, "lr": 0.05, "epochs": 100, "batch_size": 128,
            "thresholds": 7, "init": "residual", "parametrization": "softmax16", "arity": 2,
            "activation": "sin", "sampling": "soft", "gumbel_tau": 1.0,
            "connections": "random", "conv": None, "candidates": "16", "candidate_group": 32,
            "connection_strength": 2.0, "connection_relax": "hard", "augment_shift": 0}
# What --resume takes from the checkpoint (the run's model, data and optimizer settings);
# the rest (run length, outputs, device, logging) comes from the command line.
RESUMED_ARGS = ("dataset", "data_dir", "limit", "seed", "layers", "tau", "lr", "batch_size",
                "thresholds", "encoder", "init", "init_strength", "parametrization", "arity",
                "activation", "sampling", "gumbel_tau", "connections", "conv", "name",
                "candidates", "candidate_group", "connection_strength", "connection_lr",
                "connection_relax", "augment_shift")
# Where the data is and what the model is called: given on the command line, these win
# over what a checkpoint or model file recorded (the data may have moved).
LOCATION_ARGS = ("data_dir", "name")


def build_parser() -> argparse.ArgumentParser:
    d = DEFAULTS
    p = OneLineParser(
        prog="lgn-train",
        description="Train a differentiable logic gate network (relaxed gates: difflogic's "
                    "softmax16 or input-wise IWP, optionally Gumbel-sampled) on a dataset, "
                    "discretize it, and save model.pt for lgn-compile. Raw features are "
                    "thermometer-encoded into input bits; each neuron becomes one k-input "
                    "gate; a class score is the popcount of its group of last-layer gates. "
                    "Under torchrun, trains on every process (DistributedDataParallel).",
        epilog="example: lgn-train --dataset digits --seed 0 -o model.pt; to narrow a "
               "trained net's head: lgn-train prune MODEL --group-size K -o OUT "
               "(lgn-train prune --help)")
    p.add_argument("--dataset", default="digits", metavar="NAME",
                   help=f"dataset to train on ({', '.join(DATASETS)}; default: digits, "
                        "scikit-learn's bundled 8x8 digits)")
    p.add_argument("--data-dir", metavar="DIR",
                   help="directory holding dataset files (not needed for digits)")
    p.add_argument("-o", "--output", required=True, metavar="PATH",
                   help="where to write the model file (written atomically; replaced if it "
                        "exists)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the train/test split, the wiring, the init and the "
                        "minibatch order; the same seed gives the same model on the CPU "
                        "(default: 0)")
    p.add_argument("--layers", default=d["layers"], metavar="N,N,...",
                   help="gates per layer, comma-separated; the last must divide by the "
                        f"number of classes (default: {d['layers']})")
    p.add_argument("--conv", default=d["conv"], metavar="SPEC",
                   help="make a convolutional net (image datasets): these conv and OR-pool "
                        "blocks over the thermometer-encoded image (C*T channels), then "
                        "--layers dense layers. Blocks, comma-separated: c<channels> with "
                        "optional k<kernel> s<stride> p<padding> d<tree depth> g<input "
                        "channels per tree> (defaults k3 s1 p0 d3 g2: each channel a depth-3 "
                        "gate tree over 8 positions of a 3x3 field), and pool[<k>] (OR "
                        "pooling, default 2x2); e.g. c16k3p1,pool,c32k3p1,pool")
    p.add_argument("--tau", type=float, default=d["tau"],
                   help="GroupSum temperature: training scores are popcount/tau; larger "
                        f"means softer class scores (default: {d['tau']:g})")
    p.add_argument("--lr", type=float, default=d["lr"],
                   help=f"Adam learning rate (default: {d['lr']:g})")
    p.add_argument("--epochs", type=int, default=d["epochs"],
                   help=f"passes over the training set (default: {d['epochs']})")
    p.add_argument("--steps", type=int, metavar="N",
                   help="train for exactly N minibatch steps instead of --epochs")
    p.add_argument("--lr-decay", type=int, default=0, metavar="E",
                   help="anneal every learning rate to 0 along a half cosine over the run's "
                        "last E epochs (all of it when E >= its length; with --resume, E "
                        "counts back from the new end, so a constant-rate run can be "
                        "finished with a decay); 0: constant (default: 0)")
    p.add_argument("--batch-size", type=int, default=d["batch_size"], metavar="N",
                   help=f"minibatch size (default: {d['batch_size']})")
    p.add_argument("--thresholds", type=int, default=d["thresholds"], metavar="T",
                   help="thermometer thresholds per raw feature, spread uniformly over the "
                        "training data's value range; inputs = features * T "
                        f"(default: {d['thresholds']})")
    p.add_argument("--init", choices=INITS, default=d["init"],
                   help="gate logits at start: residual (pass-through gate A favoured; "
                        "trains faster) or uniform (difflogic's original) (default: "
                        f"{d['init']})")
    p.add_argument("--parametrization", choices=PARAMETRIZATIONS, default=d["parametrization"],
                   help="softmax16 (a softmax over difflogic's 16 gates) or iwp (input-wise: "
                        f"one weight per truth-table entry) (default: {d['parametrization']})")
    p.add_argument("--encoder", choices=ENCODER_METHODS, default="uniform",
                   help="where the thermometer thresholds go, fitted on the training data: "
                        "uniform (evenly over the global value range, for images) or quantile "
                        "(per-feature quantiles) (default: uniform)")
    p.add_argument("--arity", type=int, default=d["arity"], metavar="K",
                   help="operands per gate, 2..6 (k-input LUT neurons; needs --parametrization "
                        f"iwp unless 2) (default: {d['arity']})")
    p.add_argument("--activation", choices=IWP_ACTIVATIONS, default=d["activation"],
                   help="IWP weight of an angle theta: sin (0.5 + 0.5 sin theta) or sigmoid "
                        f"(default: {d['activation']})")
    p.add_argument("--init-strength", type=float, metavar="S",
                   help="how strongly residual init favours pass-through: the logit of gate A "
                        "(softmax16, default 5) or mean |theta| per IWP entry (default 1 for "
                        "sin, 3 for sigmoid)")
    p.add_argument("--sampling", choices=SAMPLINGS, default=d["sampling"],
                   help="soft (relaxed gates), gumbel (a hard Gumbel sample per gate per "
                        "step, straight-through gradient; narrows the discretization gap) or "
                        "hard (each gate's discrete table, straight-through gradient: trains "
                        "the net evaluation sees; with --init-from, a finish for a soft-trained "
                        f"net) (default: {d['sampling']})")
    p.add_argument("--gumbel-tau", type=float, default=d["gumbel_tau"], metavar="T",
                   help=f"Gumbel temperature (default: {d['gumbel_tau']:g})")
    p.add_argument("--connections", choices=CONNECTIONS, default=d["connections"],
                   help="wiring: random (difflogic: a seeded cover of the inputs), unique "
                        "(every input used, no gate reads an input twice, no two gates read "
                        "the same inputs) or learnable (each operand learns which of "
                        "--candidates inputs to read; conv trees learn their leaves in "
                        "their window; the saved model has fixed wiring) "
                        f"(default: {d['connections']})")
    p.add_argument("--candidates", default=d["candidates"], metavar="N[,N...]",
                   help="learnable wiring: inputs each operand chooses from, a random subset "
                        "shared by a block of --candidate-group gates; 0 means all the "
                        "layer's inputs; one value for every dense layer or one per layer "
                        "(e.g. 0,16: the first layer picks among all the input bits) "
                        f"(default: {d['candidates']})")
    p.add_argument("--candidate-group", type=int, default=d["candidate_group"], metavar="G",
                   help="learnable wiring: gates sharing one candidate set per operand "
                        f"(larger is faster, smaller more varied) (default: {d['candidate_group']})")
    p.add_argument("--connection-strength", type=float, default=d["connection_strength"],
                   metavar="S",
                   help="learnable wiring: initial logit of each operand's random starting "
                        f"input (0: no preference) (default: {d['connection_strength']:g})")
    p.add_argument("--connection-relax", choices=CONNECTION_RELAXES,
                   default=d["connection_relax"],
                   help="learnable wiring in training: hard (the best candidate, gradient of "
                        "the softmax: no discretization gap) or soft (the softmax mixture of "
                        "the candidates); --sampling gumbel samples picks instead (default: "
                        f"{d['connection_relax']})")
    p.add_argument("--connection-lr", type=float, metavar="LR",
                   help="learnable wiring: Adam learning rate of the connection logits "
                        "(default: --lr)")
    p.add_argument("--augment-shift", type=int, default=d["augment_shift"], metavar="K",
                   help="image datasets: shift each training image by up to K pixels in y "
                        "and x (uniform, drawn afresh every step; pixels shifted in are "
                        "background, below every threshold); 0: off; evaluation never "
                        f"shifts (default: {d['augment_shift']})")
    p.add_argument("--limit", type=int, metavar="N",
                   help="use only the first N training and N test samples (quick runs)")
    p.add_argument("--checkpoint", metavar="PATH",
                   help="write a checkpoint (a model file plus optimizer and RNG state) here "
                        "every --checkpoint-every epochs and at the end")
    p.add_argument("--checkpoint-every", type=int, default=1, metavar="E",
                   help="epochs between checkpoints (default: 1)")
    p.add_argument("--resume", metavar="PATH",
                   help="continue the run saved in this checkpoint; its model, data and "
                        "optimizer settings are used (given again, they must agree; "
                        "--data-dir and --name may change), --epochs/--steps give the total "
                        "length")
    p.add_argument("--init-from", metavar="MODEL",
                   help="fine-tune: start from this model file's trained net (its gates, "
                        "wiring, tau and input encoder, e.g. a `lgn-train prune` result) with "
                        "a fresh optimizer; the net's shape and gate settings come from the "
                        "file (given again, they must agree), --lr, --epochs, --lr-decay, "
                        "--batch-size and --augment-shift from the command line, and how "
                        "gates and wires relax in training (--sampling, e.g. hard to finish "
                        "a soft-trained net; --gumbel-tau, --connection-relax) from either")
    p.add_argument("--metrics-dir", metavar="DIR",
                   help="write metrics.json, metrics.csv and curves.png (accuracies, "
                        "discretization gap, gate utilization per evaluation) here")
    p.add_argument("--device", default="auto",
                   help="torch device: auto (CUDA if available), cpu, cuda, cuda:N "
                        "(default: auto)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="CPU threads for torch (default: the number of CPUs, at most 8)")
    p.add_argument("--eval-every", type=int, metavar="E",
                   help="print soft and discrete accuracy every E epochs (default: 5 times "
                        "per run)")
    p.add_argument("--name", metavar="IDENT",
                   help="model name, used for emitted modules and files (default: "
                        "<dataset>_lgn)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bar or per-evaluation lines; only the final summary")
    p.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    p.add_argument("--version", action="version", version=f"lgn-train {__version__}")
    return p


def build_prune_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="lgn-train prune",
        description="Narrow a trained dense net's popcount head: keep the K output bits of "
                    "each class that the training set needs most (greedy, by the exact "
                    "change of the cross-entropy), drop the rest. The head shrinks with the "
                    "output bits, and gates that fed only dropped bits are removed by "
                    "lgn-compile's passes. Writes a model file whose network is the trained "
                    "one restricted to the kept bits.",
        epilog="example: lgn-train prune model.pt --group-size 100 --dataset mnist "
               "--data-dir DIR -o model_k100.pt")
    p.add_argument("model", metavar="MODEL", help="a model file written by lgn-train")
    p.add_argument("--group-size", type=int, required=True, metavar="K",
                   help="output bits per class to keep (fewer than the model's group size; "
                        "with --swap-rounds, at most it)")
    p.add_argument("--swap-rounds", type=int, default=0, metavar="N",
                   help="then reassign the head's K slots a class for up to N rounds: a slot "
                        "may take any output bit of the net, of any class, or its complement, "
                        "and a bit several slots, swapped while the training cross-entropy "
                        "falls (the head keeps its size; default 0: prune only; ~10 s a "
                        "round for a 4,000-bit MNIST head)")
    p.add_argument("--bit-cost", type=float, default=0.0, metavar="L",
                   help="with --swap-rounds: weigh the head's hardware cost too, swapping "
                        "while the training cross-entropy plus L per heap bit (a distinct "
                        "signal of a class's popcount, once per set bit of its multiplicity; "
                        "half as much again per distinct signal) falls; bits equal on the "
                        "whole training set count as one signal (default 0: accuracy only; "
                        "5e-6 to 5e-5 for MNIST; measured in examples/training/README.md)")
    p.add_argument("--gate-cost", type=float, default=0.0, metavar="G",
                   help="with --bit-cost: the cost also counts the logic gates the kept "
                        "bits need (their fan-in cones in the -O2 circuit), G heap bits "
                        f"each (e.g. {GATE_COST:g} for 2-input gates, {LUT6_GATE_COST:g} "
                        "for 6-input ones: a gate's measured LUT6 over a heap bit's; "
                        "default 0: the head alone; measured in "
                        "examples/training/README.md)")
    p.add_argument("--held-out", type=int, default=0, metavar="N",
                   help="with --swap-rounds: keep N random training samples out of the "
                        "selection and the search, and keep the slots of the round where "
                        "their loss (plus the cost) was lowest; the search stops "
                        f"{HELD_OUT_PATIENCE} rounds after it (default 0: search on all, "
                        "to the last round)")
    p.add_argument("-o", "--output", required=True, metavar="PATH",
                   help="where to write the narrowed model file (replaced if it exists)")
    p.add_argument("--dataset", metavar="NAME",
                   help=f"the dataset the model trained on ({', '.join(DATASETS)}; default: "
                        "the model's meta.dataset); the bits are chosen on its training set")
    p.add_argument("--data-dir", metavar="DIR",
                   help="directory holding dataset files (not needed for digits)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="CPU threads for torch (default: the number of CPUs, at most 8)")
    p.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["prune"]:
        return run_command("lgn-train prune", _run_prune,
                           build_prune_parser().parse_given(argv[1:]))
    return run_command("lgn-train", _run, build_parser().parse_given(argv))


# Flags that act only in some configurations: per flag, the conditions (setting, values
# where the flag acts, how to say it). Given where they would do nothing, they are an
# error (e.g. --candidates 32 without --connections learnable would silently train fixed
# random wiring).
LEARNABLE = ("connections", ("learnable",), "--connections learnable")
APPLIES_ONLY = {
    **{flag: [LEARNABLE] for flag in ("candidates", "candidate_group", "connection_strength",
                                      "connection_lr")},
    # a Gumbel run samples its picks: neither relaxation is used
    "connection_relax": [LEARNABLE, ("sampling", ("soft", "hard"), "--sampling soft or hard")],
    "gumbel_tau": [("sampling", ("gumbel",), "--sampling gumbel")],
    "activation": [("parametrization", ("iwp",), "--parametrization iwp")],
    "init_strength": [("init", ("residual",), "--init residual")],
}


def check_applies(args) -> None:
    """A flag given where it does nothing is an error (see APPLIES_ONLY), and so is a
    run length given twice."""
    for flag, conditions in APPLIES_ONLY.items():
        for setting, values, needs in conditions:
            if flag in args.given and getattr(args, setting) not in values:
                raise LgnError(f"--{flag.replace('_', '-')} applies only with {needs} (this "
                               f"run has --{setting} {getattr(args, setting)})")
    if "checkpoint_every" in args.given and not args.checkpoint:
        raise LgnError("--checkpoint-every applies only with --checkpoint PATH")
    if "steps" in args.given and "epochs" in args.given:
        raise LgnError("give the run's length as --epochs or --steps, not both")


def take_settings(args, settings: dict) -> None:
    """A file's recorded settings become the run's, except where the data is and the
    model's name when the command line gives them (LOCATION_ARGS)."""
    for key, value in settings.items():
        if not (key in LOCATION_ARGS and key in args.given):
            setattr(args, key, value)


def _same(given, kept) -> bool:
    if isinstance(given, str) and isinstance(kept, str):  # layer lists: "8000, 4000"
        return [t.strip() for t in given.split(",")] == [t.strip() for t in kept.split(",")]
    if isinstance(given, float) and isinstance(kept, (int, float)):
        return math.isclose(given, kept, rel_tol=1e-9)
    return given == kept


def check_given(args, keys, source: str, why: str) -> None:
    """Each of `keys` given on the command line must equal the value `source` set."""
    for key in keys:
        kept = getattr(args, key)
        if key in args.given and not _same(args.given[key], kept):
            raise LgnError(f"--{key.replace('_', '-')} {args.given[key]} differs from "
                           f"{source}'s {'(unset)' if kept is None else kept}: {why}")


def _run_prune(args) -> int:
    """`lgn-train prune`: select on the training set, narrow, measure, save."""
    import numpy as np
    import torch

    from lgn_compile.model_file import load_model

    from .data import load_dataset
    from .export import encoder_from_file, model_from_file, model_to_dict, net_from_config
    from .prune import (SWAP_TAU_SCALE, HeldOut, head_outputs, logic_cones, narrow_head,
                        scaled_tau, select_head, swap_slots)
    from .trainer import discrete_accuracy, soft_accuracy

    output = Path(args.output)
    check_output_writable(output)
    if args.threads is not None and args.threads < 1:
        raise LgnError(f"--threads must be at least 1, got {args.threads}")
    torch.set_num_threads(args.threads or _default_threads())
    model = load_model(args.model)
    if "arch" in model.config:
        raise LgnError(f"{args.model}: a conv net; prune narrows a dense net's last layer")
    group = model.layers[-1].tables.shape[0] // model.num_classes
    if args.swap_rounds < 0:
        raise LgnError(f"--swap-rounds must be 0 or more, got {args.swap_rounds}")
    if "bit_cost" in args.given and not args.swap_rounds:
        raise LgnError("--bit-cost applies only with --swap-rounds N")
    if args.held_out and not args.swap_rounds:
        raise LgnError("--held-out applies only with --swap-rounds N")
    if args.held_out < 0:
        raise LgnError(f"--held-out must be 0 or more, got {args.held_out}")
    if "gate_cost" in args.given and not args.bit_cost:
        raise LgnError("--gate-cost applies only with --bit-cost L")
    for flag in ("bit_cost", "gate_cost"):
        if not getattr(args, flag) >= 0:  # also NaN
            raise LgnError(f"--{flag.replace('_', '-')} must be 0 or more, got "
                           f"{getattr(args, flag)}")
    largest = group if args.swap_rounds else group - 1  # swapping can refit a whole head
    if not 1 <= args.group_size <= largest:
        raise LgnError(f"--group-size must be between 1 and {largest} (the model has "
                       f"{group} bits per class), got {args.group_size}")
    encoder = encoder_from_file(model)
    if encoder is None:
        raise LgnError(f"{args.model}: the model has no input encoder, so its training "
                       "data cannot be encoded")
    try:  # lgn-train's own file: keep its trainable parameters and wiring
        net = net_from_config(model.config, model.state_dict).eval()
    except LgnError:  # an imported net: rebuilt from its discrete tables
        net = model_from_file(model)
    dataset = args.dataset or model.meta.get("dataset")
    seed = model.meta.get("split_seed", model.meta.get("seed", 0))
    seed = seed if isinstance(seed, int) else 0
    data = load_dataset(str(dataset), data_dir=args.data_dir, seed=seed)
    check_features(data, encoder, args.model)
    labels, held_out = np.asarray(data.train_labels), None
    if args.held_out > len(labels) // 2:
        raise LgnError(f"--held-out {args.held_out} leaves too few samples to search on "
                       f"(the training set has {len(labels)}; at most half may be held out)")
    train_bits = encoder.encode(data.train_features)
    test_bits = torch.from_numpy(encoder.encode(data.test_features)).float()
    start = time.perf_counter()
    outputs, tau = head_outputs(net, train_bits), scaled_tau(net.tau, group, args.group_size)
    if args.held_out:
        order = np.random.default_rng(seed).permutation(len(labels))
        held_out = HeldOut(outputs[order[:args.held_out]], labels[order[:args.held_out]])
        outputs, labels = outputs[order[args.held_out:]], labels[order[args.held_out:]]
    keep = select_head(outputs, labels, args.group_size, net.tau)
    swaps = None
    if args.swap_rounds:
        cones = logic_cones(model, args.gate_cost) if args.bit_cost and args.gate_cost \
            else None
        keep, swaps = swap_slots(outputs, labels, keep, tau * SWAP_TAU_SCALE,
                                 args.swap_rounds, bit_cost=args.bit_cost, cones=cones,
                                 held_out=held_out,
                                 log=lambda line: print(f"lgn-train prune: {line}", flush=True))
    del outputs
    narrowed = narrow_head(net, keep, tau, swapped=swaps is not None).eval()
    seconds = time.perf_counter() - start
    train_bits = torch.from_numpy(train_bits).float()
    train_labels, test_labels = (torch.from_numpy(np.asarray(y, dtype=np.int64))
                                 for y in (data.train_labels, data.test_labels))
    before = discrete_accuracy(net, test_bits, test_labels)
    accuracy = {"train_discrete": discrete_accuracy(narrowed, train_bits, train_labels),
                "test_discrete": discrete_accuracy(narrowed, test_bits, test_labels),
                "test_soft": soft_accuracy(narrowed, test_bits, test_labels)}
    accuracy["gap"] = accuracy["test_soft"] - accuracy["test_discrete"]
    accuracy["utilization"] = narrowed.gate_utilization()
    meta = {**model.meta, "accuracy": accuracy,
            "pruned": {"from": Path(args.model).name, "group_size": group,
                       "kept": args.group_size, "test_discrete_before": before,
                       "selected_on": f"{dataset} training set ({len(labels)} samples"
                                      + (f", {args.held_out} more held out)" if args.held_out
                                         else ")"),
                       "seconds": round(seconds, 3),
                       **({"swaps": swaps} if swaps is not None else {})}}
    meta.pop("created_by", None)
    _save(output, model_to_dict(narrowed, encoder, meta, name=model.name))
    print(f"lgn-train prune: {group} -> {args.group_size} bits per class; test accuracy "
          f"{before:.2%} -> {accuracy['test_discrete']:.2%} discrete (train "
          f"{accuracy['train_discrete']:.2%}); {seconds:.1f} s")
    print(f"lgn-train prune: wrote {output}")
    return 0


def check_features(data, encoder, path) -> None:
    """A model's encoder must read the dataset's features (prune and --init-from encode
    the data with the file's encoder, not a refitted one)."""
    if data.num_features != encoder.thresholds.shape[0]:
        raise LgnError(f"{data.name} has {data.num_features} features; the encoder of "
                       f"{path} reads {encoder.thresholds.shape[0]}")


def parse_layers(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise LgnError(f"--layers must be comma-separated integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise LgnError(f"--layers needs at least one layer of positive width, got {text!r}")
    if sum(sizes) > MAX_GATES:  # the compiler refuses such a model file anyway
        raise LgnError(f"--layers asks for {sum(sizes):,} gates; at most {MAX_GATES:,}")
    return sizes


def parse_candidates(text: str, num_layers: int) -> int | list[int]:
    """--candidates: one count for every dense layer (an int), or one per layer (a list)."""
    try:
        counts = [int(part) for part in str(text).split(",")]
    except ValueError:
        raise LgnError(f"--candidates must be comma-separated integers, got {text!r}") from None
    if min(counts) < 0:
        raise LgnError(f"--candidates must be at least 0, got {text!r}")
    if len(counts) not in (1, num_layers):
        raise LgnError(f"--candidates gives {len(counts)} counts for {num_layers} dense "
                       "layers; give one for all or one per layer")
    return counts[0] if len(counts) == 1 else counts


def _check_args(args) -> list[int]:
    sizes = parse_layers(args.layers)
    parse_candidates(args.candidates, len(sizes))
    checks = [
        (args.tau > 0 and args.tau < float("inf"), f"--tau must be positive, got {args.tau}"),
        (args.lr > 0 and args.lr < float("inf"), f"--lr must be positive, got {args.lr}"),
        (args.epochs >= 1, f"--epochs must be at least 1, got {args.epochs}"),
        (0 <= args.seed < 2**32, f"--seed must be in 0..{2**32 - 1}, got {args.seed}"),
        (args.steps is None or args.steps >= 1, f"--steps must be at least 1, got {args.steps}"),
        (args.batch_size >= 1, f"--batch-size must be at least 1, got {args.batch_size}"),
        (1 <= args.thresholds <= 1024,
         f"--thresholds must be in 1..1024, got {args.thresholds}"),
        (args.threads is None or args.threads >= 1,
         f"--threads must be at least 1, got {args.threads}"),
        (args.eval_every is None or args.eval_every >= 1,
         f"--eval-every must be at least 1, got {args.eval_every}"),
        (2 <= args.arity <= 6, f"--arity must be in 2..6, got {args.arity}"),
        (args.arity == 2 or args.parametrization == "iwp",
         f"--arity {args.arity} needs --parametrization iwp (softmax16 gates have 2 inputs)"),
        (args.init_strength is None or args.init_strength > 0,
         f"--init-strength must be positive, got {args.init_strength}"),
        (args.gumbel_tau > 0 and args.gumbel_tau < float("inf"),
         f"--gumbel-tau must be positive, got {args.gumbel_tau}"),
        (args.limit is None or args.limit >= 1, f"--limit must be at least 1, got {args.limit}"),
        (args.candidate_group >= 1,
         f"--candidate-group must be at least 1, got {args.candidate_group}"),
        (math.isfinite(args.connection_strength),
         f"--connection-strength must be finite, got {args.connection_strength}"),
        (args.connection_lr is None or 0 < args.connection_lr < float("inf"),
         f"--connection-lr must be positive, got {args.connection_lr}"),
        (args.augment_shift >= 0, f"--augment-shift must be at least 0, got {args.augment_shift}"),
        (args.lr_decay >= 0, f"--lr-decay must be at least 0, got {args.lr_decay}"),
        (args.checkpoint_every >= 1,
         f"--checkpoint-every must be at least 1, got {args.checkpoint_every}"),
        (args.name is None or args.name.isidentifier(),
         f"--name must be an identifier (letters, digits, _), got {args.name!r}"),
    ]
    for ok, message in checks:
        if not ok:
            raise LgnError(message)
    return sizes


def resumed_settings(saved: dict, path, source: str = "checkpoint") -> dict:
    """The checkpoint's (or `source`'s) run settings, each of the type and choices its flag
    allows (then range-checked with the command line's flags), so a hostile file is one
    line."""
    actions = {action.dest: action for action in build_parser()._actions}
    if type(saved.get("candidates")) is int:  # checkpoints before per-layer --candidates
        saved = {**saved, "candidates": str(saved["candidates"])}
    for key in RESUMED_ARGS:
        if key not in saved:
            continue
        value, action = saved[key], actions[key]
        kind = action.type or str
        if value is None:
            ok = action.default is None
        elif kind is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        else:
            ok = type(value) is kind and (action.choices is None or value in action.choices)
        if not ok:
            raise LgnError(f"{path}: the {source}'s setting {key} = {value!r:.60} is not a "
                           f"valid --{key.replace('_', '-')} value")
    return saved


GATE_FLAGS = ("parametrization", "arity", "connections", "init", "init_strength", "activation",
              "sampling", "gumbel_tau", "candidates", "candidate_group", "connection_strength",
              "connection_relax")


def conv_blocks(args) -> list[dict] | None:
    """The parsed --conv spec (None without --conv)."""
    from .conv import parse_conv_spec

    if args.conv is None:
        return None
    try:
        return parse_conv_spec(args.conv)
    except ValueError as exc:
        raise LgnError(f"--conv: {exc}") from None


def build_net(args, data, sizes: list[int]):
    """The net the flags describe: dense, or (--conv) conv blocks then dense layers."""
    from .conv import ConvLogicNet
    from .layers import LogicNet

    options = {key: getattr(args, key) for key in GATE_FLAGS}
    options["candidates"] = parse_candidates(args.candidates, len(sizes))
    blocks = conv_blocks(args)
    try:
        if blocks is None:
            return LogicNet(data.num_features * args.thresholds, sizes, data.num_classes,
                            args.tau, seed=args.seed, **options)
        if data.image_shape is None:
            raise LgnError(f"--conv needs an image dataset; {data.name} has no image shape")
        return ConvLogicNet.build(data.image_shape, args.thresholds, blocks, sizes,
                                  data.num_classes, args.tau, seed=args.seed, **options)
    except ValueError as exc:
        raise LgnError(str(exc)) from None


def check_output_writable(path: Path) -> None:
    """Fail now, not after training, when the model file could not be written."""
    if path.is_dir():
        raise LgnError(f"output {path} is a directory; give a file path such as {path}/model.pt")
    parent = path.parent
    while not parent.exists():  # save_model creates missing directories
        parent = parent.parent
    if not parent.is_dir():
        raise LgnError(f"cannot write {path}: {parent} is not a directory")
    try:  # a real probe: os.access is wrong for root and for read-only mounts
        fd, probe = tempfile.mkstemp(dir=parent, prefix=".lgn-train-probe.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise LgnError(f"cannot write {path}: {exc.strerror or exc} ({parent})") from None


def _default_threads() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(8, cpus))


def _run(args) -> int:
    import torch

    from .data import ThermometerEncoder, load_dataset
    from .export import load_checkpoint, model_to_dict, net_from_config
    from .trainer import distributed_setup, train, write_metrics

    if args.init_from and args.resume:
        raise LgnError("--init-from starts a new run from a model and --resume continues a "
                       "saved one; give one of them")
    resumed = load_checkpoint(args.resume) if args.resume else None
    if resumed is not None:
        saved = resumed_settings(resumed["training_state"]["args"], args.resume)
        # a setting newer than the checkpoint keeps its default
        take_settings(args, {key: saved[key] for key in RESUMED_ARGS if key in saved})
        check_given(args, RESUMED_ARGS, f"the checkpoint {args.resume}", "a resumed run "
                    "keeps its settings (drop the flag, or start a new run, e.g. "
                    "--init-from the checkpoint)")
    initial = _initial_net(args) if args.init_from else None
    sizes = _check_args(args)
    check_applies(args)
    conv_blocks(args)  # a bad spec fails before the data is read
    output = Path(args.output)
    check_output_writable(output)
    rank, _, device = distributed_setup(args.device)
    torch.set_num_threads(args.threads or _default_threads())

    start = time.perf_counter()
    data = load_dataset(args.dataset, data_dir=args.data_dir, seed=args.seed)
    if args.limit:
        data = data.subset(args.limit)
    if sizes[-1] % data.num_classes:
        raise LgnError(f"the last layer ({sizes[-1]} gates) must divide into "
                       f"{data.num_classes} equal class groups for {data.name}")
    if data.num_features * args.thresholds > MAX_INPUTS:  # the compiler refuses such a model
        raise LgnError(f"{data.num_features} features x {args.thresholds} thresholds = "
                       f"{data.num_features * args.thresholds:,} input bits; at most "
                       f"{MAX_INPUTS:,} (fewer --thresholds)")
    augment = None
    if args.augment_shift:
        if data.image_shape is None:
            raise LgnError(f"--augment-shift needs an image dataset; {data.name} has no "
                           "image shape")
        try:
            augment = RandomShift(data.image_shape, args.thresholds, args.augment_shift)
        except ValueError as exc:
            raise LgnError(f"--augment-shift: {exc}") from None
    if initial is None:
        encoder = ThermometerEncoder(args.thresholds, method=args.encoder).fit(
            data.train_features)
    else:
        encoder = initial["encoder"]
        check_features(data, encoder, args.init_from)
    train_bits, test_bits = encoder.encode(data.train_features), encoder.encode(data.test_features)
    if resumed is not None:
        try:
            net = net_from_config(resumed["config"], resumed["state_dict"])
        except LgnError as exc:
            raise LgnError(f"{args.resume}: {exc}") from exc
    elif initial is not None:
        net = initial["net"]
        net.set_relaxation(args.sampling, args.gumbel_tau, args.connection_relax)
    else:
        net = build_net(args, data, sizes)
    say = (lambda line: None) if args.quiet or rank else print
    shape = "" if args.conv is None else f"conv {args.conv} then "
    say(f"lgn-train: {data.name}: {len(train_bits)} train / {len(test_bits)} test samples, "
        f"{data.num_features} features x {args.thresholds} thresholds = {encoder.num_bits} "
        f"input bits; {shape}layers {','.join(map(str, sizes))} ({net.num_gates} gates, "
        f"{args.parametrization} arity {args.arity}, {args.sampling}), tau {args.tau:g}, "
        f"device {device}")
    settings = {key: getattr(args, key) for key in RESUMED_ARGS}
    # a resumed run's seconds include the earlier runs' (checked by train's restore_state)
    earlier = 0.0 if resumed is None else resumed["training_state"].get("seconds", 0.0)

    def meta(metrics: dict) -> dict:
        return {"dataset": data.name, "seed": args.seed, "split_seed": args.seed,
                "accuracy": {k: float(metrics[k]) for k in ACCURACY_KEYS if k in metrics},
                "training": {**settings, "layers": sizes, "device": str(device),
                             "threads": torch.get_num_threads(), "lr_decay": args.lr_decay,
                             "epochs": int(metrics["epochs"]), "steps": int(metrics["steps"]),
                             "seconds": round(time.perf_counter() - start + earlier, 3)},
                "num_train": len(train_bits), "num_test": len(test_bits),
                **({} if initial is None else {"init_from": initial["meta"]})}

    def checkpoint(state: dict) -> None:
        last = state["history"][-1] if state["history"] else {}
        model = model_to_dict(net, encoder, meta({**last, "epochs": state["epoch"],
                                                  "steps": state["step"]}), name=args.name)
        model["training_state"] = {**state, "args": settings}
        _save(args.checkpoint, model)

    metrics = train(net, train_bits, data.train_labels, test_bits, data.test_labels,
                    epochs=args.epochs, steps=args.steps, lr=args.lr,
                    batch_size=args.batch_size, seed=args.seed, device=device,
                    eval_every=args.eval_every, progress=not args.quiet,
                    log=None if not args.quiet else (lambda line: None),
                    checkpoint=checkpoint if args.checkpoint else None,
                    checkpoint_every=args.checkpoint_every, connection_lr=args.connection_lr,
                    augment=augment, lr_decay_epochs=args.lr_decay,
                    resume=None if resumed is None else resumed["training_state"])
    if rank:
        return 0
    info = meta(metrics)
    info["train_eval_samples"] = metrics["train_eval_samples"]
    _save(output, model_to_dict(net.cpu(), encoder, info, name=args.name))
    if args.metrics_dir:
        title = (f"{data.name}: {shape}{net.num_gates:,} gates ({args.layers}), "
                 f"{args.parametrization} arity {args.arity}, {args.sampling}, "
                 f"{args.connections} wiring")
        written = write_metrics(metrics["history"], args.metrics_dir, title,
                                metrics["loss_trace"])
    accuracy, measured = info["accuracy"], metrics["train_eval_samples"]
    subset = "" if measured == len(train_bits) else \
        f" on the first {measured:,} of {len(train_bits):,} training samples"
    print(f"lgn-train: test accuracy {accuracy['test_discrete']:.2%} discrete, "
          f"{accuracy['test_soft']:.2%} soft (train {accuracy['train_discrete']:.2%} "
          f"discrete{subset}); gap {metrics['gap']:.2%}, {metrics['utilization']:.1%} of "
          f"{net.num_gates} gates used, {len(net.layer_sizes)} layers; "
          f"{info['training']['seconds']:.1f} s")
    print(f"lgn-train: wrote {output}")
    if args.metrics_dir:
        print(f"lgn-train: curves in {written[2]}, metrics in {written[0].name} and "
              f"{written[1].name} beside it")
    if args.checkpoint:
        print(f"lgn-train: checkpoint in {args.checkpoint} (continue with --resume "
              f"{args.checkpoint} and a larger --epochs or --steps)")
    return 0


# what --init-from takes from the model file's recorded settings: the net's gate settings
# (its widths come from the net itself; the optimizer's, the data's and the schedule's
# settings, and how the gates relax in training, from the command line)
RELAX_ARGS = ("sampling", "gumbel_tau", "connection_relax")
INIT_ARGS = ("dataset", "tau", "thresholds", "encoder", "conv", "name") + tuple(
    key for key in GATE_FLAGS if key not in RELAX_ARGS)


def _initial_net(args) -> dict:
    """--init-from: the model file's trainable net and encoder; its recorded settings
    become the run's (so the new file's meta says what the net is)."""
    from lgn_compile.model_file import load_model

    from .export import encoder_from_file, net_from_config

    model = load_model(args.init_from)
    try:
        net = net_from_config(model.config, model.state_dict)
    except LgnError as exc:
        raise LgnError(f"{args.init_from}: not a net lgn-train can train ({exc})") from None
    encoder = encoder_from_file(model)
    training = model.meta.get("training")
    if encoder is None or not isinstance(training, dict):
        raise LgnError(f"{args.init_from}: no input encoder or training settings; "
                       "--init-from needs a model file written by lgn-train")
    recorded = {key: training[key] for key in INIT_ARGS + RELAX_ARGS if key in training}
    if model.meta.get("dataset") is not None:
        recorded["dataset"] = model.meta["dataset"]
    recorded = resumed_settings(recorded, args.init_from, "model")
    # the relaxation is the file's (its net's, where its meta predates a setting) unless
    # the command line changes it
    relaxation = {**net.relaxation(), **{k: v for k, v in recorded.items() if k in RELAX_ARGS}}
    take_settings(args, {key: value for key, value in recorded.items()
                         if key not in RELAX_ARGS})
    take_settings(args, {key: value for key, value in relaxation.items()
                         if key not in args.given})
    # the net's own widths and tau (a pruned head is narrower, its tau scaled), and the
    # encoder's thresholds, over what the file's meta says
    widths = training.get("layers") if "arch" in model.config else net.layer_sizes
    if not (isinstance(widths, list) and all(type(n) is int for n in widths)):
        raise LgnError(f"{args.init_from}: the model's meta.training.layers is not a list "
                       "of widths")
    args.layers = ",".join(map(str, widths))
    args.tau, args.thresholds = float(net.tau), encoder.thresholds.shape[1]
    check_given(args, INIT_ARGS + ("layers",), f"the model {args.init_from}",
                "--init-from trains the file's net as it is (its shape, gates, tau and "
                "encoder)")
    accuracy = model.meta.get("accuracy", {})
    before = accuracy.get("test_discrete") if isinstance(accuracy, dict) else None
    meta = {"from": Path(args.init_from).name,
            "test_discrete_before": before if isinstance(before, float) else None}
    if isinstance(model.meta.get("pruned"), dict):
        meta["pruned"] = model.meta["pruned"]
    return {"net": net, "encoder": encoder, "meta": meta}


ACCURACY_KEYS = ("train_soft", "train_discrete", "test_soft", "test_discrete", "gap",
                 "utilization")


def _save(path, model: dict) -> None:
    from lgn_compile.model_file import save_model

    try:
        save_model(path, model)
    except OSError as exc:
        raise LgnError(f"cannot write {path}: {exc.strerror or exc}") from None
