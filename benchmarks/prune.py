"""Accuracy per LUT along a head's width: one trained model narrowed by `lgn-train prune`
to several group sizes (output bits per class), each compiled at -O2 and measured.

Per group size: gates after the passes, distinct head bits, test accuracy on the whole
test set (MNIST: all 10,000 images) through the compiled C (checked equal to the torch
discrete forward), the prune's own seconds, and LUT6 -- the project's mapper on the logic
(depth-optimal, and for area alone: `lut6_mapper_area`) plus the head synthesized alone,
and yosys `synth_xilinx` on the whole module (benchmarks/fpga.py's `measure`, no place
and route); and the logic as ABC maps it to 2-input gates (`gates_2input`). The trained
width is the first row (not pruned).

With --finetune, each pruned width (and each swapped head) is also trained on
(`lgn-train --init-from`: the kept gates and their wiring, no gate added; a bit kept in
two slots may become two gates once they train apart) and measured again; with
--swap-rounds N, each width (the trained one too) also gets its slots reassigned
(`lgn-train prune --swap-rounds N`: any class's bit or its complement) and is measured
again, once per --bit-cost L given (the search then weighs the head's heap bits
too; 0 is the accuracy-only search) and --gate-cost G given (a logic gate's weight beside
them; 0, the default: the head alone), the search stopped by --held-out N training samples
if given. Prints a table and writes benchmarks/results/prune.json (rows merged by model, group,
fine-tuning epochs, swap rounds, bit cost, gate cost and held-out samples).

    python benchmarks/prune.py --model mnist44kaug=build/prune/44kaug/model.pt \
        --data-dir DIR --group-sizes 400,200,100,50 [--finetune 1:0.01] [--swap-rounds 40
        --bit-cost 0,2e-5 --gate-cost 0,0.45]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from accuracy_frontier import (  # benchmarks/ is the script's directory
    check_through_c, gates_2input, saved_rows)
from fpga import measure
from lgn_compile.errors import LgnError
from lgn_compile.model_file import load_model
from lgn_train.cli import main as train_main
from lgn_train.data import load_dataset
from lgn_train.prune import GATE_COST, LUT6_GATE_COST
from machine import cpu_model

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "prune.json"
WORK = ROOT / "build" / "prune"


def narrowed(name: str, source: Path, group: int, data: list[str], swaps: int = 0,
             bit_cost: float = 0.0, gate_cost: float = 0.0, held_out: int = 0) -> Path:
    """`source` pruned to `group` bits per class by `lgn-train prune` (and its slots
    reassigned for up to `swaps` rounds, weighing heap bits at `bit_cost` and logic gates
    at `gate_cost` heap bits, stopped by `held_out` training samples)."""
    tag = f"k{group}" + (f"s{swaps}" + search_tag(bit_cost, gate_cost, held_out)
                         if swaps else "")
    path = WORK / name / tag / "model.pt"
    if train_main(["prune", str(source), "--group-size", str(group), "-o", str(path)] + data
                  + (["--swap-rounds", str(swaps)] if swaps else [])
                  + (["--held-out", str(held_out)] if swaps and held_out else [])
                  + (["--bit-cost", str(bit_cost), "--gate-cost", str(gate_cost)]
                     if bit_cost else [])):
        raise SystemExit(f"[{name}] lgn-train prune to {group} failed")
    return path


def search_tag(bit_cost: float, gate_cost: float, held_out: int) -> str:
    """The swap search's settings in a path or design name: `narrowed` names its output
    from the request, `measure_model` its design from the file's record of it."""
    return (f"c{bit_cost:g}g{gate_cost:g}" if bit_cost else "") + \
        (f"h{held_out}" if held_out else "")


def finetuned(pruned: Path, epochs: int, lr: float, shift: int, data: list[str]) -> Path:
    """`pruned` trained on by `lgn-train --init-from` for `epochs` at `lr` decayed to 0,
    with image shifts of up to `shift` pixels (the source run's)."""
    path = pruned.parent.parent / f"{pruned.parent.name}ft{epochs}" / "model.pt"
    if train_main(["--init-from", str(pruned), "--epochs", str(epochs), "--lr", str(lr),
                   "--lr-decay", str(epochs), "--augment-shift", str(shift), "-q",
                   "-o", str(path)] + data):
        raise SystemExit(f"lgn-train --init-from {pruned} failed")
    return path


def measure_model(name: str, path: Path, trained: int, test_images, timeout: float,
                  synth: bool) -> dict:
    """One row: the model at `path` compiled at -O2, checked through the C, synthesized."""
    model = load_model(path)
    group = model.layers[-1].tables.shape[0] // model.num_classes
    tuned = model.meta.get("init_from")
    tag = f"k{group}" + (f"ft{model.meta['training']['epochs']}" if tuned else "")
    compiled, report = check_through_c(model, path.parent, test_images, f"{name} {tag}")
    after = report["optimization"]["after"]
    pruned = (tuned or model.meta).get("pruned") or {}
    if pruned.get("swaps"):
        swaps = pruned["swaps"]
        tag += f"s{swaps['rounds']}" + search_tag(swaps.get("bit_cost", 0.0),
                                                  swaps.get("gate_cost", 0.0),
                                                  (swaps.get("held_out") or {}).get("samples", 0))
    row = {"model": name, "group_size": group,
           "trained_group_size": pruned.get("group_size", trained),
           "finetune": None if not tuned else
           {key: model.meta["training"][key] for key in ("epochs", "lr", "lr_decay", "seconds")}
           | {"test_discrete_before": tuned["test_discrete_before"]},
           "test_discrete_c": float((compiled == test_images[1]).mean()),
           "test_images": len(compiled), "gates_model": model.num_gates,
           "gates_after": after["gates"], "depth_after": after["depth"],
           "prune_seconds": pruned.get("seconds", 0.0),
           "swaps": pruned.get("swaps")}
    if synth:
        figures = measure(f"{name}_{tag}", path, [], timeout)
        row.update(head_distinct_bits=figures["head_distinct_bits"],
                   lut6_mapper=figures["lut_mapper"]["lut6"],
                   logic_lut6_mapper=figures["lut_mapper"]["logic_lut6"],
                   lut6_mapper_area=figures["lut_mapper"]["lut6_area"],
                   head_lut6=figures["xilinx"]["head"]["lut6"],
                   lut6_synth_xilinx=figures["xilinx"]["total"]["lut6"],
                   **gates_2input(model))
    return row


def key(row: dict) -> tuple:
    """Rows are one per model, width, fine-tuning length, swap rounds, bit and gate cost and
    held-out samples."""
    swaps = row.get("swaps") or {}
    return (row["model"], row["group_size"], (row.get("finetune") or {}).get("epochs", 0),
            swaps.get("rounds", 0), swaps.get("bit_cost", 0.0), swaps.get("gate_cost", 0.0),
            (swaps.get("held_out") or {}).get("samples", 0))


def listed(text: str, convert, noun: str, least: float) -> list:
    """A comma-separated flag's values, each at least `least` (NaN is not); argparse turns
    the error into a usage line."""
    try:
        values = [convert(value) for value in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes {noun} separated by commas, got {text!r}")
    if not all(value >= least for value in values):  # also NaN
        raise argparse.ArgumentTypeError(f"values must be {least:g} or more, got {text}")
    return values


def costs(text: str) -> list[float]:
    """--bit-cost's and --gate-cost's values."""
    return listed(text, float, "numbers", 0)


def widths(text: str) -> list[int]:
    """--group-sizes: bits per class, widest first (each prunes from the trained width)."""
    return sorted(set(listed(text, int, "integers", 1)), reverse=True)


def schedule(text: str) -> tuple[int, float]:
    """--finetune EPOCHS:LR, checked here so a typo is a usage line before any pruning."""
    epochs, _, lr = text.partition(":")
    try:
        epochs, lr = int(epochs), float(lr)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes EPOCHS:LR (e.g. 3:0.01), got {text!r}")
    if epochs < 1 or not lr > 0:  # also NaN
        raise argparse.ArgumentTypeError(f"takes at least 1 epoch and a rate above 0, "
                                         f"got {text!r}")
    return epochs, lr


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", action="append", required=True, metavar="NAME=PATH",
                   help="a trained MNIST model (repeatable)")
    p.add_argument("--data-dir", help="directory with the dataset's files (MNIST: the IDX "
                   "files; not needed for digits)")
    p.add_argument("--group-sizes", required=True, type=widths, metavar="K,K,...",
                   help="bits per class to keep; the model's own width is measured unpruned")
    p.add_argument("--finetune", type=schedule, metavar="EPOCHS:LR",
                   help="also fine-tune each pruned width and swapped head for EPOCHS at rate LR "
                        "(decayed to 0 over them; lgn-train --init-from) and measure that as a "
                        "row beside it")
    p.add_argument("--swap-rounds", type=int, default=0, metavar="N",
                   help="also reassign each width's slots for up to N rounds (lgn-train prune "
                        "--swap-rounds) and measure that as a row beside it")
    p.add_argument("--bit-cost", type=costs, default="0", metavar="L,L,...",
                   help="with --swap-rounds: the swap search's cost per heap bit (lgn-train "
                        "prune --bit-cost), one row per value (default 0: accuracy only)")
    p.add_argument("--gate-cost", type=costs, metavar="G,G,...",
                   help="with --bit-cost: a logic gate's weight in heap bits (lgn-train prune "
                        f"--gate-cost, e.g. {GATE_COST:g}; {LUT6_GATE_COST:g} for 6-input gates), "
                        "one row per value and bit cost "
                        "(default 0: the head alone)")
    p.add_argument("--held-out", type=int, default=0, metavar="N",
                   help="with --swap-rounds: training samples kept out of the search to stop "
                        "it (lgn-train prune --held-out)")
    p.add_argument("--swapped-only", action="store_true",
                   help="with --swap-rounds: measure only the swapped rows (a run beside "
                        "another that measures the pruned ones)")
    p.add_argument("--no-synth", action="store_true", help="accuracy and gates only")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per yosys run")
    args = p.parse_args(argv)
    if not args.swap_rounds and (args.swapped_only or args.bit_cost != [0.0] or args.held_out):
        p.error("--bit-cost, --held-out and --swapped-only apply only with --swap-rounds N")
    if args.gate_cost is not None and not any(args.bit_cost):
        p.error("--gate-cost applies only with a --bit-cost above 0")
    gate_costs = args.gate_cost or [0.0]
    data_flags = ["--data-dir", args.data_dir] if args.data_dir else []
    for spec in args.model:
        name, _, path = spec.partition("=")
        try:
            model = load_model(path)
        except LgnError as error:
            p.error(f"--model {spec}: {error}")
        trained = model.layers[-1].tables.shape[0] // model.num_classes
        shift = model.meta.get("training", {}).get("augment_shift") or 0
        data = load_dataset(str(model.meta["dataset"]), data_dir=args.data_dir,
                            seed=int(model.meta.get("split_seed", 0)))
        test_images = (data.test_features, np.asarray(data.test_labels))
        for group in args.group_sizes:
            paths = [Path(path)]
            if args.swap_rounds and args.swapped_only:
                paths = []
            elif group != trained:
                paths = [narrowed(name, Path(path), group, data_flags)]
                if args.finetune:
                    paths.append(finetuned(paths[0], *args.finetune, shift, data_flags))
            for bit_cost in args.bit_cost if args.swap_rounds else ():
                for gate_cost in gate_costs if bit_cost else [0.0]:
                    paths.append(narrowed(name, Path(path), group, data_flags,
                                          args.swap_rounds, bit_cost, gate_cost,
                                          args.held_out))
                    if args.finetune:
                        paths.append(finetuned(paths[-1], *args.finetune, shift,
                                                   data_flags))
            for model_path in paths:
                row = measure_model(name, model_path, trained, test_images, args.timeout,
                                    not args.no_synth)
                row.update(cpu=cpu_model(),
                           date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
                rows = [r for r in saved_rows(RESULTS) if key(r) != key(row)] + [row]
                RESULTS.write_text(json.dumps({"benchmark": "prune", "rows": rows},
                                              indent=1) + "\n")
                print(f"[{name}] {row}", file=sys.stderr, flush=True)
    print(f"{'model':14s} {'K':>4s} {'tuned':>5s} {'swaps':>5s} {'cost':>6s} {'gate':>5s} "
          f"{'held':>5s} {'acc (C)':>8s} {'gates':>6s} "
          f"{'distinct':>8s} {'head':>5s} {'LUT6':>6s} {'area':>6s} {'xilinx':>7s} {'2-input':>7s} "
          f"{'prune s':>8s}")
    for r in saved_rows(RESULTS):
        tuned = f"{r['finetune']['epochs']}ep" if r.get("finetune") else "-"
        swaps = str(r["swaps"]["swaps"]) if r.get("swaps") else "-"
        swapped = r.get("swaps") or {}
        cost = f"{swapped['bit_cost']:g}" if swapped.get("bit_cost") else "-"
        gate = f"{swapped['gate_cost']:g}" if swapped.get("gate_cost") else "-"
        held = str(swapped["held_out"]["samples"]) if swapped.get("held_out") else "-"
        print(f"{r['model']:14s} {r['group_size']:4d} {tuned:>5s} {swaps:>5s} {cost:>6s} "
              f"{gate:>5s} {held:>5s} "
              f"{r['test_discrete_c']:8.2%} "
              f"{r['gates_after']:6,d} {r.get('head_distinct_bits', '-'):>8} "
              f"{r.get('head_lut6', '-'):>5} {r.get('lut6_mapper', '-'):>6} "
              f"{r.get('lut6_mapper_area', '-'):>6} "
              f"{r.get('lut6_synth_xilinx', '-'):>7} {r.get('gates_2input', '-'):>7} "
              f"{r['prune_seconds']:8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
