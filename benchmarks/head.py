"""The popcount head, A vs B: every output bit counted as its own leaf, against repeated
bits counted once with their multiplicity (what the Verilog backend builds).

For each model, compiled at -O2, the same head (popcount + argmax) alone, interleaved:
- A `plain`: one head input per output bit (the head before it read shared bits once);
- B `shared`: one head input per distinct output driver, constants folded (the compiler's).
Figures: output bits, leaves (distinct signals per class, summed), counters and popcount
levels of the design (6-input counters for LUT6, and 3-input for LUT4 FPGAs), and LUT6 +
CARRY4 from yosys `synth_xilinx` (native Debian yosys when on PATH).

Prints a table and writes benchmarks/results/head.json.

    python benchmarks/head.py --model mnist_s=build/mnist_s.pt [--model ...]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from fpga import head_only  # benchmarks/ is the script's directory
from machine import cpu_model

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "head.json"


def plain_head(graph):
    """The head with every output bit driven by its own input (nothing shared)."""
    from lgn_compile import ir

    num_classes, group_size = graph.graph["num_classes"], graph.graph["group_size"]
    head = ir.new_ir(f"{graph.graph['name']}_head", num_classes * group_size, num_classes,
                     group_size)
    for index in range(num_classes * group_size):
        ir.add_output(head, index, index, index // group_size)
    ir.validate(head)
    return head


def figures(head, yosys: str | None, timeout: float) -> dict:
    from lgn_compile.backends.verilog import build_verilog
    from lgn_compile.synth import synth_report

    row = {}
    for counters in (6, 3):
        files, design = build_verilog(head, counter_inputs=counters)
        summary = design.summary()
        row[f"counters{counters}"] = summary["head"]["counters"]
        row[f"levels{counters}"] = summary["levels"]["popcount"]
        row["leaves"] = design.distinct_bits  # the same for both counter sizes
        if counters == 6 and yosys is not None:
            start = time.perf_counter()
            xilinx = synth_report(files[f"{head.graph['name']}.v"], head.graph["name"],
                                  ("xilinx",), timeout, yosys)["xilinx"]
            row.update(lut6=xilinx["luts"], carry4=xilinx["cells"].get("CARRY4", 0),
                       synth_s=round(time.perf_counter() - start, 1))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, metavar="NAME=PATH",
                        help="a model to measure (repeatable)")
    parser.add_argument("--no-synth", action="store_true",
                        help="design figures only (no yosys)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per yosys run")
    args = parser.parse_args()
    from lgn_compile.model_file import load_model
    from lgn_compile.passes import PRESETS, optimize_model
    from lgn_compile.synth import fast_yosys, yosys_build

    yosys = None if args.no_synth else fast_yosys()
    rows = []
    for spec in args.model:
        name, path = spec.split("=", 1)
        model = load_model(path)
        graph, _ = optimize_model(model, PRESETS[2])
        row = {"model": name, "accuracy": model.meta.get("accuracy", {}).get("test_discrete"),
               "output_bits": len(model.layers[-1].tables)}
        for variant, head in (("plain", plain_head(graph)), ("shared", head_only(graph))):
            row[variant] = figures(head, yosys, args.timeout)
        rows.append(row)
        print(f"  {name}: {row}", flush=True)
    print(f"{'model':<14} {'bits':>5} {'leaves':>6} | {'counters6':>10} {'levels6':>8} "
          f"{'counters3':>10} {'LUT6':>12} {'CARRY4':>8}   (plain -> shared)")
    for row in rows:
        a, b = row["plain"], row["shared"]

        def pair(key, a=a, b=b):
            return f"{a.get(key, '-')}->{b.get(key, '-')}"
        print(f"{row['model']:<14} {row['output_bits']:>5} {b['leaves']:>6} | "
              f"{pair('counters6'):>10} {pair('levels6'):>8} {pair('counters3'):>10} "
              f"{pair('lut6'):>12} {pair('carry4'):>8}")
    kept = json.loads(RESULTS.read_text())["rows"] if RESULTS.exists() else []
    measured = {row["model"] for row in rows}
    rows = [row for row in kept if row["model"] not in measured] + rows
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"cpu": cpu_model(), "cpus": os.cpu_count(),
                                   "yosys": yosys_build(yosys) if yosys else None,
                                   "rows": rows}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
