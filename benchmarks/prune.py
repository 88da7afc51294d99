"""Accuracy per LUT along a head's width: one trained model narrowed by `lgn-train prune`
to several group sizes (output bits per class), each compiled at -O2 and measured.

Per group size: gates after the passes, distinct head bits, test accuracy on the whole
test set (MNIST: all 10,000 images) through the compiled C (checked equal to the torch discrete forward),
the prune's own seconds, and LUT6 -- the project's mapper on the logic plus the head
synthesized alone, and yosys `synth_xilinx` on the whole module (benchmarks/fpga.py's
`measure`, no place and route). The trained width is the first row (not pruned).

Prints a table and writes benchmarks/results/prune.json (rows merged by model and group).

    python benchmarks/prune.py --model mnist44kaug=build/prune/44kaug/model.pt \
        --data-dir DIR --group-sizes 400,200,100,50
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from accuracy_frontier import check_through_c  # benchmarks/ is the script's directory
from fpga import measure
from lgn_compile.model_file import load_model
from lgn_train.cli import main as train_main
from lgn_train.data import load_dataset
from machine import cpu_model

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "prune.json"
WORK = ROOT / "build" / "prune"


def measure_width(name: str, source: Path, group: int, trained: int, data_dir: str,
                  test_images, timeout: float, synth: bool) -> dict:
    work = WORK / name / f"k{group}"
    work.mkdir(parents=True, exist_ok=True)
    path = source
    if group != trained:
        path = work / "model.pt"
        if train_main(["prune", str(source), "--group-size", str(group), "-o", str(path)]
                      + (["--data-dir", data_dir] if data_dir else [])):
            raise SystemExit(f"[{name}] lgn-train prune to {group} failed")
    model = load_model(path)
    compiled, report = check_through_c(model, work, test_images, f"{name} k{group}")
    after = report["optimization"]["after"]
    row = {"model": name, "group_size": group, "trained_group_size": trained,
           "test_discrete_c": float((compiled == test_images[1]).mean()),
           "test_images": len(compiled), "gates_model": model.num_gates,
           "gates_after": after["gates"], "depth_after": after["depth"],
           "prune_seconds": model.meta.get("pruned", {}).get("seconds", 0.0)}
    if synth:
        figures = measure(f"{name}_k{group}", path, [], timeout)
        row.update(head_distinct_bits=figures["head_distinct_bits"],
                   lut6_mapper=figures["lut_mapper"]["lut6"],
                   logic_lut6_mapper=figures["lut_mapper"]["logic_lut6"],
                   head_lut6=figures["xilinx"]["head"]["lut6"],
                   lut6_synth_xilinx=figures["xilinx"]["total"]["lut6"])
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", action="append", required=True, metavar="NAME=PATH",
                   help="a trained MNIST model (repeatable)")
    p.add_argument("--data-dir", help="directory with the dataset's files (MNIST: the IDX "
                   "files; not needed for digits)")
    p.add_argument("--group-sizes", required=True, metavar="K,K,...",
                   help="bits per class to keep; the model's own width is measured unpruned")
    p.add_argument("--no-synth", action="store_true", help="accuracy and gates only")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per yosys run")
    args = p.parse_args(argv)
    rows = json.loads(RESULTS.read_text())["rows"] if RESULTS.exists() else []
    for spec in args.model:
        name, path = spec.split("=", 1)
        model = load_model(path)
        trained = model.layers[-1].tables.shape[0] // model.num_classes
        data = load_dataset(str(model.meta["dataset"]), data_dir=args.data_dir,
                            seed=int(model.meta.get("split_seed", 0)))
        test_images = (data.test_features, np.asarray(data.test_labels))
        for group in sorted({int(k) for k in args.group_sizes.split(",")}, reverse=True):
            row = measure_width(name, Path(path), group, trained, args.data_dir, test_images,
                                args.timeout, not args.no_synth)
            row.update(cpu=cpu_model(), date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
            rows = [r for r in rows if (r["model"], r["group_size"]) != (name, group)] + [row]
            RESULTS.write_text(json.dumps({"benchmark": "prune", "rows": rows}, indent=1) + "\n")
            print(f"[{name} k{group}] {row}", file=sys.stderr, flush=True)
    print(f"{'model':14s} {'K':>4s} {'acc (C)':>8s} {'gates':>6s} {'distinct':>8s} "
          f"{'head':>5s} {'LUT6':>6s} {'xilinx':>7s} {'prune s':>8s}")
    for r in rows:
        print(f"{r['model']:14s} {r['group_size']:4d} {r['test_discrete_c']:8.2%} "
              f"{r['gates_after']:6,d} {r.get('head_distinct_bits', '-'):>8} "
              f"{r.get('head_lut6', '-'):>5} {r.get('lut6_mapper', '-'):>6} "
              f"{r.get('lut6_synth_xilinx', '-'):>7} {r['prune_seconds']:8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
