"""Single-thread throughput and build time of the emitted C against a difflogic-style baseline.

Networks: a DLGN trained on digits (300,200 gates; --digits-model or trained here) and a
48,000-gate MNIST-shaped random net (784 inputs, 6 layers of 8,000, 10 classes). For each:
lgn-compile's C (emit time, gcc -O2 time, samples/s for every --simd mode this CPU runs)
and the same network as difflogic writes it (one C statement per gate on a 64-bit word in
one function, a per-bit packing loop, GroupSum with a ripple counter per class), built by
the same gcc. Both run from the same input (one byte per input bit, row per sample) to
class scores, checked equal to the Python reference, timed by CPU time (best of --repeat).

Roofline: gate evaluations/s = bitwise ops/cycle x lanes x clock, one op per gate. The
assumed ops/cycle (ASSUMED_OPS_PER_CYCLE) are those of a Golden Cove / Sapphire Rapids
core: 4 scalar ALU ops, 3 x 256-bit vector logic ops (ports 0, 1, 5), 2 x 512-bit (ports
0, 5); the clock is /proc/cpuinfo's "cpu MHz". Prints a table, writes
benchmarks/results/c_throughput.json.

    python benchmarks/c_throughput.py                      # both nets, baseline included
    python benchmarks/c_throughput.py --skip-large-baseline  # no minutes-long gcc run
"""

from __future__ import annotations

import argparse
import ctypes
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lgn_compile import evaluate, ir
from lgn_compile.backends.c import SIMD_MODES, emit_c
from lgn_compile.gates import table_expression
from lgn_compile.model_file import _validate, load_model
from lgn_compile.random_net import random_input_bits, random_model_dict
from lgn_compile.verify.c_build import CLibrary, build_shared_library, simd_supported

RESULTS = Path(__file__).resolve().parent / "results" / "c_throughput.json"
ROOT = Path(__file__).resolve().parents[1]
ASSUMED_OPS_PER_CYCLE = {"u64": 4, "avx2": 3, "avx512": 2, "baseline": 4}
LANES = {"u64": 64, "avx2": 256, "avx512": 512, "baseline": 64}


def cpu_mhz() -> float:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("cpu MHz"):
            return float(line.split(":")[1])
    return 3000.0


def difflogic_c(g) -> str:
    """The network as difflogic's CompiledLogicNet writes it (2-input gates only)."""
    names = {}
    for node in range(g.graph["num_inputs"]):
        names[node] = f"inp[{node}]"
    lines = []
    for node in ir.topological_gates(g):
        attrs = g.nodes[node]
        expression = table_expression(attrs["table"], len(attrs["operands"]))
        expression = ("~0LL" if attrs["table"] & 1 else "0LL") if expression is None else \
            expression.format(*(names[op] for op in attrs["operands"]))
        names[node] = f"v{node}"
        lines.append(f"\tconst long long v{node} = {expression};")
    outputs = [names[ir.operands(g, out)[0]] for out in ir.outputs(g)]
    lines += [f"\tout[{k}] = {name};" for k, name in enumerate(outputs)]
    n_in, n_out, classes = g.graph["num_inputs"], len(outputs), g.graph["num_classes"]
    group, bits = g.graph["group_size"], max(1, g.graph["group_size"].bit_length())
    body = "\n".join(lines)
    return f"""#include <stddef.h>
#include <stdlib.h>
#include <stdbool.h>

void logic_gate_net(long long const *inp, long long *out) {{
{body}
}}

void apply_logic_gate_net (bool const *inp, int *out, size_t len) {{
    long long *inp_temp = malloc({n_in}*sizeof(long long));
    long long *out_temp = malloc({n_out}*sizeof(long long));
    long long *out_temp_o = malloc({bits}*sizeof(long long));
    for(size_t i = 0; i < len; ++i) {{
        for(size_t d = 0; d < {n_in}; ++d) {{
            long long res = (long long) 0;
            for(size_t b = 0; b < 64; ++b) {{
                res <<= 1;
                res += !!(inp[i * {n_in} * 64 + ({64} - b - 1) * {n_in} + d]);
            }}
            inp_temp[d] = res;
        }}
        logic_gate_net(inp_temp, out_temp);
        for(size_t c = 0; c < {classes}; ++c) {{
            for(size_t d = 0; d < {bits}; ++d) {{ out_temp_o[d] = (long long) 0; }}
            for(size_t a = 0; a < {group}; ++a) {{
                long long carry = out_temp[c * {group} + a];
                long long out_temp_o_d;
                for(int d = {bits} - 1; d >= 0; --d) {{
                    out_temp_o_d  = out_temp_o[d];
                    out_temp_o[d] = carry ^ out_temp_o_d;
                    carry         = carry & out_temp_o_d;
                }}
            }}
            for(size_t b = 0; b < 64; ++b) {{
                const long long bit_mask = (long long) 1 << b;
                int res = 0;
                for(size_t d = 0; d < {bits}; ++d) {{
                    res <<= 1;
                    res += !!(out_temp_o[d] & bit_mask);
                }}
                out[(i * 64 + b) * {classes} + c] = res;
            }}
        }}
    }}
    free(inp_temp);
    free(out_temp);
    free(out_temp_o);
}}
"""


def best_cpu_seconds(run, repeat: int) -> float:
    """Best process CPU time of `repeat` calls (robust to other processes on the machine)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best


def bench_model(label: str, g, bits: np.ndarray, repeat: int, baseline: bool,
                baseline_timeout: float, work: Path) -> list[dict]:
    expected = evaluate.scores(g, bits)
    gates = ir.stats(g)["gates"]
    mhz = cpu_mhz()
    rows = []

    def row(code, simd, emit_s, gcc_s, seconds):
        rate = len(bits) / seconds
        roofline = ASSUMED_OPS_PER_CYCLE[simd] * LANES[simd] * mhz * 1e6 / gates
        rows.append({"model": label, "gates": gates, "code": code, "simd": simd,
                     "emit_s": round(emit_s, 3), "gcc_s": round(gcc_s, 2),
                     "samples_per_s": round(rate), "roofline_samples_per_s": round(roofline),
                     "percent_of_roofline": round(100 * rate / roofline, 2)})

    for simd in [m for m in SIMD_MODES if m != "auto" and simd_supported(m)]:
        start = time.perf_counter()
        files = emit_c(g, simd=simd)
        emit_s = time.perf_counter() - start
        directory = work / f"{label}-{simd}"
        directory.mkdir()
        for name, text in files.items():
            (directory / name).write_text(text)
        name = g.graph["name"]
        start = time.perf_counter()
        so = build_shared_library(directory / f"{name}.c", directory / f"lib{name}.so", simd=simd)
        gcc_s = time.perf_counter() - start
        library = CLibrary(so, name, g.graph["num_inputs"], g.graph["num_classes"])
        assert np.array_equal(library.scores(bits), expected), f"{label} {simd} disagrees"
        rows_seconds = best_cpu_seconds(lambda: library.scores(bits), repeat)
        row("lgn-compile", simd, emit_s, gcc_s, rows_seconds)
    if baseline:
        rows.append(bench_baseline(label, g, bits, expected, repeat, baseline_timeout, work))
        base = rows[-1]
        base_roofline = ASSUMED_OPS_PER_CYCLE["baseline"] * 64 * mhz * 1e6 / gates
        base.update(gates=gates, roofline_samples_per_s=round(base_roofline),
                    percent_of_roofline=round(100 * base["samples_per_s"] / base_roofline, 2))
        for r in rows[:-1]:
            r["x_baseline"] = round(r["samples_per_s"] / base["samples_per_s"], 2)
    return rows


def bench_baseline(label, g, bits, expected, repeat, timeout, work: Path) -> dict:
    start = time.perf_counter()
    source = difflogic_c(g)
    emit_s = time.perf_counter() - start
    c_file = work / f"{label}-difflogic.c"
    c_file.write_text(source)
    so = work / f"lib{label}-difflogic.so"
    start = time.perf_counter()
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(so), str(c_file)], check=True,
                   timeout=timeout)
    gcc_s = time.perf_counter() - start
    lib = ctypes.CDLL(str(so))
    lib.apply_logic_gate_net.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
    blocks = -(-len(bits) // 64)
    padded = np.zeros((blocks * 64, bits.shape[1]), dtype=np.uint8)
    padded[:len(bits)] = bits
    out = np.zeros((blocks * 64, g.graph["num_classes"]), dtype=np.int32)

    def run():
        lib.apply_logic_gate_net(padded.ctypes.data, out.ctypes.data, blocks)

    run()
    assert np.array_equal(out[:len(bits)], expected), f"{label} baseline disagrees"
    seconds = best_cpu_seconds(run, repeat)
    return {"model": label, "code": "difflogic-style", "simd": "baseline",
            "emit_s": round(emit_s, 3), "gcc_s": round(gcc_s, 2),
            "samples_per_s": round(len(bits) / seconds)}


def digits_graph(model_path: str | None, work: Path):
    if model_path is None:
        model_path = str(work / "digits.pt")
        subprocess.run([sys.executable, "-m", "lgn_train", "--dataset", "digits", "--layers",
                        "300,200", "--epochs", "15", "--thresholds", "3", "-q", "-o",
                        model_path], check=True, cwd=ROOT)
    return ir.from_model(load_model(model_path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits-model", help="a trained digits model.pt (default: train one)")
    parser.add_argument("--samples", type=int, default=8192)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--skip-large-baseline", action="store_true",
                        help="no difflogic-style build of the 48k-gate net (minutes of gcc)")
    parser.add_argument("--baseline-timeout", type=float, default=3600)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        digits = digits_graph(args.digits_model, work)
        rows += bench_model("digits", digits, random_input_bits(1, args.samples,
                                                                digits.graph["num_inputs"]),
                            args.repeat, True, args.baseline_timeout, work)
        mnist = ir.from_model(_validate(random_model_dict(
            0, num_inputs=784, layer_sizes=(8000,) * 6, num_classes=10, name="mnist48k")))
        rows += bench_model("mnist48k", mnist, random_input_bits(2, args.samples, 784),
                            args.repeat, not args.skip_large_baseline, args.baseline_timeout,
                            work)
    print(f"CPU {cpu_mhz():.0f} MHz; roofline ops/cycle assumed: {ASSUMED_OPS_PER_CYCLE}")
    header = (f"{'model':<9} {'gates':>6} {'code':<16} {'simd':<8} {'emit s':>7} {'gcc s':>7} "
              f"{'samples/s':>11} {'x base':>7} {'% roof':>7}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['model']:<9} {r['gates']:>6} {r['code']:<16} {r['simd']:<8} "
              f"{r['emit_s']:>7.2f} {r['gcc_s']:>7.2f} {r['samples_per_s']:>11,} "
              f"{r.get('x_baseline', ''):>7} "
              f"{r['percent_of_roofline']:>7.2f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"cpu_mhz": cpu_mhz(),
                                   "assumed_ops_per_cycle": ASSUMED_OPS_PER_CYCLE,
                                   "samples": args.samples, "rows": rows}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
