"""MNIST accuracy run: a <= 48,000-gate network trained with lgn-train, discrete test accuracy,
discretization gap, gate utilization and wall time (difflogic reports 97.69% for 48k gates).

Runs `lgn-train` with the recipe below (each flag can be overridden by passing it after
`--`), keeps a checkpoint every epoch (resume an interrupted run with
`lgn-train --resume build/train_accuracy/checkpoint.pt -o ...`), prints a summary and
writes benchmarks/results/train_accuracy.json.

    python benchmarks/train_accuracy.py --data-dir ../shared/data/mnist
    python benchmarks/train_accuracy.py --data-dir DIR -- --epochs 30 --sampling gumbel
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from lgn_compile.model_file import load_model
from lgn_train.cli import main as train_main

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "train_accuracy.json"
WORK = ROOT / "build" / "train_accuracy"
# 6 x 8000 = 48,000 gates (difflogic's small MNIST size), input-wise 2-input gates
RECIPE = ["--dataset", "mnist", "--layers", "8000,8000,8000,8000,8000,8000",
          "--parametrization", "iwp", "--arity", "2", "--init", "residual",
          "--thresholds", "2", "--tau", "10", "--lr", "0.05", "--batch-size", "128",
          "--epochs", "5", "--eval-every", "1", "--seed", "0"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", required=True, help="directory with the MNIST IDX files")
    p.add_argument("extra", nargs="*", help="lgn-train flags that override the recipe")
    args = p.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    model_path = WORK / "model.pt"
    command = RECIPE + ["--data-dir", args.data_dir, "--checkpoint",
                        str(WORK / "checkpoint.pt"), "--metrics-dir", str(WORK / "metrics"),
                        "-o", str(model_path)] + args.extra
    print("lgn-train " + " ".join(command), flush=True)
    start = time.perf_counter()
    code = train_main(command)
    if code:
        return code
    model = load_model(model_path)
    accuracy, training = model.meta["accuracy"], model.meta["training"]
    result = {"benchmark": "train_accuracy", "command": "lgn-train " + " ".join(command),
              "gates": model.num_gates, "test_discrete": accuracy["test_discrete"],
              "test_soft": accuracy["test_soft"], "gap": accuracy["gap"],
              "utilization": accuracy["utilization"], "epochs": training["epochs"],
              "steps": training["steps"], "seconds": round(time.perf_counter() - start, 1),
              "device": training["device"], "threads": torch.get_num_threads(),
              "machine": platform.processor() or platform.machine(),
              "history": json.loads((WORK / "metrics" / "metrics.json").read_text())}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(f"MNIST, {model.num_gates} gates: {accuracy['test_discrete']:.2%} discrete test "
          f"accuracy, gap {accuracy['gap']:.2%}, {result['seconds'] / 60:.1f} min on "
          f"{training['device']}; wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
