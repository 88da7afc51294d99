"""Accuracy per gate on MNIST: recipes at several gate budgets (and small popcount heads),
each trained with lgn-train, compiled with lgn-compile's -O2 passes, and checked on all
10,000 test images through the compiled C (built for this machine).

Each row of benchmarks/results/accuracy_frontier.json: the recipe's name and full command,
gates before and after the passes (and inverters; and `gates_2input`, the logic after the
passes as ABC maps it to 2-input gates, the unit of the 2-input anchors), discrete test
accuracy of the trained net and of the compiled C (which must agree), soft accuracy and
the gap, output bits (classes x group size), train time, device, threads and CPU model.
Rows are merged by name, so recipes can be run one at a time:

    python benchmarks/accuracy_frontier.py --data-dir DIR --only 8k
    python benchmarks/accuracy_frontier.py --data-dir DIR --only head10,head50 -- --epochs 1
    python benchmarks/accuracy_frontier.py --list
    python benchmarks/accuracy_frontier.py --data-dir DIR --only 16k --reuse  # no training

--reuse compiles and checks the model a recipe already wrote (build/accuracy_frontier/NAME/
model.pt), taking its train time from the model file: for a run whose check was cut short.

A finish (FINISHES) is a second run from a recipe's trained net (`lgn-train --init-from`,
e.g. `--sampling hard` on its own discrete gates); its row says which recipe it starts
from and counts both runs' train time.

Extra lgn-train flags after `--` override every selected recipe (and are recorded).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from lgn_compile import ir
from lgn_compile.compiler import compile_model, optimize_model
from lgn_compile.errors import LgnError
from lgn_compile.model_file import load_model
from lgn_compile.passes import PRESETS
from lgn_compile.passes.abc import abc_map
from lgn_compile.synth import fast_yosys, yosys_build
from lgn_compile.verify import c_library
from lgn_train.cli import main as train_main
from lgn_train.data import load_dataset
from lgn_train.export import encoder_from_file, net_from_config
from machine import cpu_model  # benchmarks/ is the script's directory

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "accuracy_frontier.json"
WORK = ROOT / "build" / "accuracy_frontier"

# Shared by every recipe: MNIST, IWP 2-input gates, residual init, learned wiring with the
# straight-through pick among 64 candidates per operand (blocks of 64 gates share a set).
COMMON = ["--dataset", "mnist", "--parametrization", "iwp", "--arity", "2",
          "--init", "residual", "--connections", "learnable", "--candidates", "64",
          "--candidate-group", "64", "--lr", "0.05", "--batch-size", "128", "--seed", "0",
          "--eval-every", "1"]
RECIPES = {  # name: (gate budget, lgn-train flags)
    "2k": (2_000, ["--layers", "1500,500", "--thresholds", "2", "--tau", "8",
                   "--epochs", "3"]),
    "8k": (8_000, ["--layers", "6000,2000", "--thresholds", "2", "--tau", "16",
                   "--epochs", "3"]),
    # 16 candidates in blocks of 32 (a step 0.27 s at 16k gates on one EPYC thread, about
    # half the 64-candidate cost); 400 bits per class
    "16k": (16_000, ["--layers", "12000,4000", "--thresholds", "3", "--tau", "20",
                     "--candidates", "16", "--candidate-group", "32", "--epochs", "8"]),
    # depth: four and six layers of 16 candidates (the 22k run was 8 epochs, resumed to 12)
    "22k": (22_000, ["--layers", "6000,6000,6000,4000", "--thresholds", "3", "--tau", "20",
                     "--candidates", "16", "--candidate-group", "32", "--epochs", "12"]),
    "44k": (44_000, ["--layers", "8000,8000,8000,8000,8000,4000", "--thresholds", "3",
                     "--tau", "20", "--candidates", "16", "--candidate-group", "32",
                     "--epochs", "6"]),
    "44k5t": (44_000, ["--layers", "8000,8000,8000,8000,8000,4000", "--thresholds", "5",
                       "--tau", "20", "--candidates", "16", "--candidate-group", "32",
                       "--epochs", "6"]),
    # the first layer picks among all the input bits (2352 candidates per operand; the
    # deeper ones among 16): a step ~1.1 s on one EPYC thread for 44k gates
    "44kfull": (44_000, ["--layers", "8000,8000,8000,8000,8000,4000", "--thresholds", "3",
                         "--tau", "20", "--candidates", "0,16,16,16,16,16",
                         "--candidate-group", "32", "--epochs", "6"]),
    "44kaug": (44_000, ["--layers", "8000,8000,8000,8000,8000,4000", "--thresholds", "3",
                        "--tau", "20", "--candidates", "0,16,16,16,16,16",
                        "--candidate-group", "32", "--epochs", "6", "--augment-shift", "1"]),
    # three epochs more (the 44kaug run resumed: --resume continues a run exactly)
    "44kaug9": (44_000, ["--layers", "8000,8000,8000,8000,8000,4000", "--thresholds", "3",
                         "--tau", "20", "--candidates", "0,16,16,16,16,16",
                         "--candidate-group", "32", "--epochs", "9", "--augment-shift", "1"]),
    # 44kaug9 finished with a learning-rate decay: constant for 9 epochs, then a half
    # cosine to 0 over the last 6 (or 10); run as 44kaug9's checkpoint resumed with
    # `--epochs 15 --lr-decay 6`, which --resume makes the same run as this command
    "44kaug15": (44_000, ["--layers", "8000,8000,8000,8000,8000,4000", "--thresholds", "3",
                          "--tau", "20", "--candidates", "0,16,16,16,16,16",
                          "--candidate-group", "32", "--epochs", "15", "--augment-shift", "1",
                          "--lr-decay", "6"]),
    "44kaug19": (44_000, ["--layers", "8000,8000,8000,8000,8000,4000", "--thresholds", "3",
                          "--tau", "20", "--candidates", "0,16,16,16,16,16",
                          "--candidate-group", "32", "--epochs", "19", "--augment-shift", "1",
                          "--lr-decay", "10"]),
    # a shorter constant phase, a longer decay: 4 epochs at 0.05, then 11 decayed (run as
    # 44kaug19's command stopped after epoch 4 and resumed with `--epochs 15 --lr-decay 11`)
    "44kaug15d11": (44_000, ["--layers", "8000,8000,8000,8000,8000,4000", "--thresholds",
                             "3", "--tau", "20", "--candidates", "0,16,16,16,16,16",
                             "--candidate-group", "32", "--epochs", "15", "--augment-shift",
                             "1", "--lr-decay", "11"]),
    # a longer decay from the same constant-rate epoch 9 (run as 44kaug9's checkpoint
    # resumed with `--epochs 27 --lr-decay 18`, the same run as this command)
    "44kaug27": (44_000, ["--layers", "8000,8000,8000,8000,8000,4000", "--thresholds", "3",
                          "--tau", "20", "--candidates", "0,16,16,16,16,16",
                          "--candidate-group", "32", "--epochs", "27", "--augment-shift", "1",
                          "--lr-decay", "18"]),
    # 44kaug19 at capacity (train 98.2 %): five thermometer thresholds per pixel instead of
    # three (3,920 input bits for the first layer to pick from), decayed over 9 of 17 epochs
    "44kaug5t": (44_000, ["--layers", "8000,8000,8000,8000,8000,4000", "--thresholds", "5",
                          "--tau", "20", "--candidates", "0,16,16,16,16,16",
                          "--candidate-group", "32", "--epochs", "17", "--augment-shift", "1",
                          "--lr-decay", "9"]),
    # the same, half as wide, with a 1,000-bit head (100 per class) for small hardware
    "19kfull": (19_000, ["--layers", "4000,4000,4000,4000,2000,1000", "--thresholds", "3",
                         "--tau", "10", "--candidates", "0,16,16,16,16,16",
                         "--candidate-group", "32", "--epochs", "8"]),
    # LUT-sized: 6-input gates (one LUT6 each), the first layer picking among all input
    # bits, a 100-bit head (issue 17's <= 700 LUT6 budget, head included)
    "lut6tiny": (600, ["--arity", "6", "--layers", "500,100", "--thresholds", "3", "--tau",
                       "3", "--candidates", "0,32", "--candidate-group", "32", "--epochs", "8",
                       "--lr-decay", "4"]),
    "lut6mid": (1_400, ["--arity", "6", "--layers", "1000,300,100", "--thresholds", "3",
                        "--tau", "3", "--candidates", "0,32,32", "--candidate-group", "32",
                        "--epochs", "8", "--lr-decay", "4"]),
    # lut6mid overfit (train 97.2 %, test 95.4 %): the same with shifted training images
    "lut6midaug": (1_400, ["--arity", "6", "--layers", "1000,300,100", "--thresholds", "3",
                           "--tau", "3", "--candidates", "0,32,32", "--candidate-group", "32",
                           "--epochs", "10", "--lr-decay", "5", "--augment-shift", "1"]),
    # lut6tiny's net with DWN's encoding (per-pixel quantile thresholds), shifted
    # training images and three times the epochs
    "lut6tinyq": (600, ["--arity", "6", "--layers", "500,100", "--thresholds", "3",
                        "--encoder", "quantile", "--tau", "3", "--candidates", "0,32",
                        "--candidate-group", "32", "--epochs", "24", "--lr-decay", "12",
                        "--augment-shift", "1"]),
    # four layers of 6-input gates: 3,400 before the passes, inside issue 17's 4,000 LUT6
    "lut6big": (3_400, ["--arity", "6", "--layers", "2000,1000,300,100", "--thresholds", "3",
                        "--tau", "3", "--candidates", "0,32,32,32", "--candidate-group", "32",
                        "--epochs", "10", "--lr-decay", "5", "--augment-shift", "1"]),
    # one layer: every gate reads learned inputs and feeds the head directly
    "1layer8k": (8_000, ["--layers", "8000", "--thresholds", "3", "--tau", "30",
                         "--epochs", "4"]),
    # the same, every gate picking among all 2,352 input bits (the learned-interconnect
    # paper's one-layer setting), the rate decayed over the last two epochs
    "1layer8kfull": (8_000, ["--layers", "8000", "--thresholds", "3", "--tau", "30",
                             "--candidates", "0", "--epochs", "4", "--lr-decay", "2"]),
    "48k": (48_000, ["--layers", "16000,16000,16000", "--thresholds", "2", "--tau", "40",
                     "--epochs", "3"]),
}
# DWN's shape: 6-input gates (lutK: K-input) whose first layer picks among all the input
# bits (the last among 32 or all of the first's), and a wide last layer for `lgn-train
# prune` to choose the head from; shifted images, the rate decayed over the second half.
# The `n` nets put a narrow first layer under a wide last one: what a pruned head keeps of
# it is cheap.
for name, layers, tau, candidates, epochs in (
        ("lut6x1", "1000", 10, "0", 12), ("lut6x2", "1000,1000", 10, "0,32", 10),
        ("lut6x2all", "1000,1000", 10, "0,0", 10), ("lut6x2s", "400,400", 6, "0,32", 10),
        ("lut6n300", "300,1000", 10, "0,0", 10), ("lut6n300e20", "300,1000", 10, "0,0", 20),
        ("lut6n200", "200,1000", 10, "0,0", 10), ("lut6n200w", "200,2000", 14, "0,0", 10),
        ("lut6n300w", "300,2000", 14, "0,0", 10), ("lut6n600w6k", "600,6000", 24, "0,0", 10),
        # lut6n600w6k's shape in 4-input gates (3-9 two-input gates each, not 15-22), and
        # a third wider
        ("lut4n600w6k", "600,6000", 24, "0,0", 10), ("lut4n800w8k", "800,8000", 28, "0,0", 10)):
    RECIPES[name] = (sum(int(n) for n in layers.split(",")), [
        "--arity", name[3], "--layers", layers, "--thresholds", "3", "--tau", str(tau),
        "--candidates", candidates, "--candidate-group", "32", "--epochs", str(epochs),
        "--lr-decay", str(epochs // 2), "--augment-shift", "1"])
# conv: each channel one 6-input gate whose leaves it learns in its 3x3 field (of all 3
# threshold channels, then of 8 of the 32), OR pooling, then lut6n300w's dense layers
# (conv6) or lut6n600w6k's for half the epochs (conv6w)
for name, layers, tau, epochs, decay in (("conv6", "300,2000", 14, 10, 5),
                                         ("conv6w", "600,6000", 24, 5, 3)):
    RECIPES[name] = (48_000, [
        "--arity", "6", "--conv", "c32k3d1g3,pool,c64k3d1g8,pool", "--layers", layers,
        "--thresholds", "3", "--tau", str(tau), "--candidates", "0,0",
        "--candidate-group", "32", "--epochs", str(epochs), "--lr-decay", str(decay),
        "--augment-shift", "1", "--eval-every", "5"])
# Finishes: a second lgn-train run from a recipe's trained net (`--init-from` its model,
# which sets the net and its gate settings); name: (gate budget, the recipe it starts
# from, the run's flags). Its train time is both runs'.
FINISH_COMMON = ["--batch-size", "128", "--seed", "0", "--eval-every", "1"]
FINISHES = {
    # conv6 on its own discrete gates (`--sampling hard`) at a small rate decayed to 0:
    # its 0.50-point discretization gap becomes training signal
    "conv6hard": (48_000, "conv6", ["--sampling", "hard", "--lr", "0.002", "--epochs", "2",
                                    "--lr-decay", "2", "--augment-shift", "1"]),
    "conv6whard": (48_000, "conv6w", ["--sampling", "hard", "--lr", "0.002", "--epochs", "2",
                                      "--lr-decay", "2", "--augment-shift", "1"]),
    # the same finish on a dense net with a small gap (0.10%)
    "lut4n600w6khard": (6_600, "lut4n600w6k", ["--sampling", "hard", "--lr", "0.002",
                                               "--epochs", "2", "--lr-decay", "2",
                                               "--augment-shift", "1"]),
}
# small heads: the same 4,000-gate hidden layer, then 10 classes x {10, 50, 100, 600} bits
# (tau about sqrt(bits per class))
for bits, tau in ((10, 3), (50, 7), (100, 10), (600, 25)):
    RECIPES[f"head{bits}"] = (4_000 + 10 * bits, [
        "--layers", f"4000,{10 * bits}", "--thresholds", "2", "--tau", str(tau),
        "--epochs", "2"])


def check_through_c(model, work: Path, test_images, name: str):
    """(class predicted by the compiled C per test image, the -O2 compile report); exits
    when the C and the trained net's discrete forward disagree on any image."""
    files, report = compile_model(model, ["c"], PRESETS[2])
    for file_name, text in files.items():
        (work / file_name).write_text(text if isinstance(text, str) else text.decode())
    library = c_library(work / f"{model.name}.c", model, work)
    features, _ = test_images
    bits = encoder_from_file(model).encode(features)
    compiled = library.scores(bits).argmax(1)
    net = net_from_config(model.config, model.state_dict).eval()
    trained = net.discrete_scores(bits).argmax(1)
    if not np.array_equal(compiled, trained):
        raise SystemExit(f"[{name}] compiled C disagrees with the trained net on "
                         f"{int((compiled != trained).sum())} test images")
    return compiled, report


def gates_2input(model) -> dict:
    """The -O2 logic as ABC maps it to 2-input gates: a net of wider gates counted in the
    unit of the 2-input anchors (difflogic's 48k gates); and which yosys's ABC counted."""
    gates = ir.stats(abc_map(optimize_model(model, PRESETS[2])[0]))["gates"]
    return {"gates_2input": gates, "abc_yosys": yosys_build(fast_yosys())}


def start_of(name: str) -> tuple[int, list[str], float]:
    """A recipe's (budget, lgn-train flags before the run's own, seconds trained before):
    a finish starts from its recipe's model, which must have been trained."""
    if name in RECIPES:
        budget, flags = RECIPES[name]
        return budget, COMMON + flags, 0.0
    budget, start, flags = FINISHES[name]
    model_path = WORK / start / "model.pt"
    if not model_path.exists():
        raise SystemExit(f"[{name}] starts from {start}'s model: run --only {start} first")
    row = next((r for r in saved_rows() if r["name"] == start), None)
    earlier = (row["train_seconds"] if row is not None
               else load_model(model_path).meta["training"]["seconds"])
    return budget, ["--init-from", str(model_path)] + FINISH_COMMON + flags, earlier


def run_recipe(name: str, data_dir: str, extra: list[str], test_images,
               reuse: bool = False, abc: bool = True) -> dict:
    budget, flags, earlier = start_of(name)
    work = WORK / name
    work.mkdir(parents=True, exist_ok=True)
    model_path = work / "model.pt"
    command = flags + extra + ["--data-dir", data_dir, "-q", "--checkpoint",
                               str(work / "checkpoint.pt"), "-o", str(model_path)]
    print(f"[{name}] lgn-train " + " ".join(command), flush=True)
    if reuse and model_path.exists():
        model = load_model(model_path)
        seconds = model.meta["training"]["seconds"]
    else:
        start = time.perf_counter()
        if train_main(command):
            raise SystemExit(f"[{name}] lgn-train failed")
        seconds = time.perf_counter() - start
        model = load_model(model_path)
    seconds += earlier
    compiled, report = check_through_c(model, work, test_images, name)
    labels = test_images[1]
    accuracy, training = model.meta["accuracy"], model.meta["training"]
    after = report["optimization"]["after"]
    num_classes = model.num_classes
    return {"name": name, "budget": budget,
            "command": "lgn-train " + " ".join(command),
            **({"from": FINISHES[name][1]} if name in FINISHES else {}),
            "gates_before": model.num_gates, "gates_after": after["gates"],
            "inverters_after": after["inverters"], "depth_after": after["depth"],
            **(gates_2input(model) if abc else {"gates_2input": None}),
            "test_discrete_c": float((compiled == labels).mean()),
            "test_images": len(labels),
            "test_discrete": accuracy["test_discrete"], "test_soft": accuracy["test_soft"],
            "gap": accuracy["gap"], "utilization": accuracy["utilization"],
            "output_bits": model.layers[-1].tables.shape[0],
            "classes_x_group": f"{num_classes} x {model.layers[-1].tables.shape[0] // num_classes}",
            "epochs": training["epochs"], "train_seconds": round(seconds, 1),
            "device": training["device"],
            "threads": training.get("threads"),  # None: a model from before it was recorded
            "cpu": cpu_model(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def saved_rows(path: Path = RESULTS) -> list[dict]:
    """A results file's rows as they are now (read again before each write, so two runs
    side by side keep each other's rows; benchmarks/prune.py's file too)."""
    return json.loads(path.read_text())["rows"] if path.exists() else []


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", help="directory with the MNIST IDX files")
    p.add_argument("--only", default=",".join([*RECIPES, *FINISHES]),
                   help="comma-separated recipes to run (default: all, finishes after "
                        f"their recipes: {', '.join([*RECIPES, *FINISHES])})")
    p.add_argument("--list", action="store_true", help="print the recipes and exit")
    p.add_argument("--no-abc", action="store_true",
                   help="leave out gates_2input (ABC in the PyPI yosys had not finished "
                        "after 16 min on conv6's 25,902 6-input gates)")
    p.add_argument("--reuse", action="store_true",
                   help="compile and check the model a recipe already wrote (no training)")
    p.add_argument("extra", nargs="*", help="lgn-train flags that override every recipe")
    args = p.parse_args(argv)
    if args.list:
        for name, (budget, flags) in RECIPES.items():
            print(f"{name:8s} <= {budget:6,d} gates: {' '.join(flags)}")
        for name, (budget, start, flags) in FINISHES.items():
            print(f"{name:8s} <= {budget:6,d} gates: {start}'s net, then {' '.join(flags)}")
        return 0
    if not args.data_dir:
        p.error("--data-dir is required")
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in RECIPES and n not in FINISHES]
    if unknown:
        p.error(f"unknown recipe(s) {', '.join(unknown)} (see --list)")
    try:
        data = load_dataset("mnist", data_dir=args.data_dir, seed=0)
    except LgnError as error:
        p.error(str(error))
    test_images = (data.test_features, np.asarray(data.test_labels))
    for name in names:
        row = run_recipe(name, args.data_dir, args.extra, test_images, args.reuse,
                         not args.no_abc)
        rows = saved_rows()  # read when written: a run beside this one keeps its rows
        old = next((r for r in rows if r["name"] == name), None)
        if args.reuse and old is not None and all(
                old[k] == row[k] for k in ("command", "gates_before", "test_discrete")):
            # the row's own model checked again: the train time stays the one measured
            # when it trained, on the CPU the row names (this machine may be another)
            row.update({k: old[k] for k in ("train_seconds", "threads", "cpu") if k in old})
        rows = [r for r in rows if r["name"] != name] + [row]
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({"benchmark": "accuracy_frontier", "rows": rows},
                                      indent=1) + "\n")
        two = f" ({row['gates_2input']:,} as 2-input gates)" if row["gates_2input"] else ""
        print(f"[{name}] {row['gates_before']:,} gates -> {row['gates_after']:,} after -O2{two}: "
              f"{row['test_discrete_c']:.2%} on {row['test_images']:,} test images (C), "
              f"gap {row['gap']:.2%}, {row['classes_x_group']} output bits, "
              f"{row['train_seconds'] / 60:.1f} min", flush=True)
    print(f"{'recipe':11s} {'gates':>7s} {'after':>7s} {'2-input':>7s} {'acc (C)':>8s} "
          f"{'gap':>6s} {'out bits':>9s} {'min':>6s}")
    for r in saved_rows():
        two = f"{r['gates_2input']:7,d}" if r.get("gates_2input") else f"{'-':>7s}"
        print(f"{r['name']:11s} {r['gates_before']:7,d} {r['gates_after']:7,d} {two} "
              f"{r['test_discrete_c']:8.2%} {r['gap']:6.2%} {r['output_bits']:9d} "
              f"{r['train_seconds'] / 60:6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
