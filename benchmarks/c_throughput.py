"""Throughput (one core, and all cores) and build time of the emitted C against a
difflogic-style baseline.

Networks: a DLGN trained on digits (300,200 gates; --digits-model or trained here) and a
48,000-gate MNIST-shaped random net (784 inputs, 6 layers of 8,000, 10 classes). For each:
lgn-compile's default pipeline (-O2 passes), then its C (pass, emit and gcc -O2 times,
samples/s for every --simd mode this CPU runs), and the same unoptimized network as
difflogic writes it (one C statement per gate on a 64-bit word in one function, a
per-bit packing loop, GroupSum with a ripple counter per class), built by the same gcc
-O2 (which folds the constant and wire gates itself). Both run from the same input (one
byte per input bit, row per sample) to class scores, checked equal to the Python
reference, timed by CPU time on buffers allocated once (lgn-compile's C also from packed
bits, `<name>_scores_packed`: "packed in/s"): best of --repeat calls, best of
--rounds rounds that take every code in turn (this machine's speed wanders by 2x over
minutes; interleaving keeps the ratios honest). Rows with threads > 1 run
`<name>_scores_mt` on every core this process may use, timed by wall clock (CPU time
sums the threads).

A C timer (#including the emitted source) splits one pass of WORD_BITS samples into input
packing, gates and popcount head, and measures the clock with a chain of dependent
multiplies (3 cycles each on Intel cores since Sandy Bridge).

Roofline: gates evaluated/s = bitwise ops/cycle x lanes x clock, one op per gate, over
the gates the C evaluates (after the -O2 passes; unread gates skipped). The assumed
ops/cycle (ASSUMED_OPS_PER_CYCLE) are Intel's published port counts for a Golden Cove /
Raptor Cove core (Sapphire / Emerald Rapids): 5 scalar 64-bit ALU ops (ports 0, 1, 5, 6,
10), 3 x 128- or 256-bit vector logic ops (ports 0, 1, 5), 2 x 512-bit (ports 0, 5: port 1's
vector ALU is fused away for 512-bit ops). "% roof" is the gate kernel's rate (the
timer's gates phase) against it; "% e2e" is end-to-end samples/s against it.

The memory side of the roofline: "cyc/gate" is the gate phase's cycles per evaluated gate,
"floor" the same wiring walked with one XOR per gate (same slots, order and runs: the
loads and stores alone). Where the two agree, the kernels cost nothing beyond moving the
operands, and the compute roof is out of reach until fewer operands move (on nets of a
few hundred gates a pass is too short for either figure: the timer's overhead dominates).
Prints a table, writes benchmarks/results/c_throughput.json.

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
from lgn_compile.backends.c import SIMD_MODES, emit_c, plan
from lgn_compile.gates import table_expression
from lgn_compile.model_file import _validate, load_model
from lgn_compile.passes import PRESETS, run_pipeline
from lgn_compile.random_net import random_input_bits, random_model_dict
from lgn_compile.verify.c_build import (
    SIMD_CFLAGS,
    CLibrary,
    available_cores,
    build_shared_library,
    pack_inputs,
    simd_supported,
)
from machine import cpu_model  # benchmarks/ is the script's directory

RESULTS = Path(__file__).resolve().parent / "results" / "c_throughput.json"
ROOT = Path(__file__).resolve().parents[1]
ASSUMED_OPS_PER_CYCLE = {"u64": 5, "v128": 3, "avx2": 3, "avx512": 2, "baseline": 5}
LANES = {"u64": 64, "v128": 128, "avx2": 256, "avx512": 512, "baseline": 64}

# Times one pass of NAME_WORD_BITS samples by phase (best of argv[1] runs) and the clock.
PHASE_TIMER = r"""
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "NAME.c"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double clock_hz(void)
{
    const long steps = 100000000L;
    unsigned long x = 3;
    double start = now();
    long i;
    for (i = 0; i < steps; ++i)
        __asm__ volatile("imul %0, %0" : "+r"(x));
    return 3.0 * (double)steps / (now() - start) + 0.0 * (double)x;
}

/* The data movement of the gate loop alone: every gate of the same wiring (same slots,
 * same order, same runs) computed as an XOR of its first and last operand. */
static void walk_wiring(lgn_word *restrict w)
{
    const lgn_slot *p = NAME_wiring;
    size_t r, i;

    for (r = 0; r < LGN_NUM_RUNS; ++r) {
        const size_t n = NAME_runs[r].count, a = NAME_kernels[NAME_runs[r].kernel].arity;

        if (a == 2) {
            LGN_UNROLL
            for (i = 0; i < n; ++i, p += 3)
                w[p[0]] = w[p[1]] ^ w[p[2]];
        } else {
            for (i = 0; i < n; ++i, p += a + 1)
                w[p[0]] = w[p[1]] ^ w[p[a]];
        }
    }
}

int main(int argc, char **argv)
{
    const int runs = atoi(argv[1]);
    const size_t n = LGN_WORD_BITS;
    uint8_t *bits = malloc(n * UPPER_NUM_INPUTS);
    uint32_t *scores = malloc(n * UPPER_NUM_CLASSES * sizeof *scores);
    uint64_t *work = malloc(UPPER_WORK_WORDS * sizeof *work);
    lgn_word *w = lgn_align(work);
    double pack = 1e9, gates = 1e9, count = 1e9, walk = 1e9, t0, t1, t2, t3;
    uint64_t x = 88172645463325252u;
    size_t i;
    int r;

    for (i = 0; i < n * UPPER_NUM_INPUTS; ++i) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        bits[i] = (uint8_t)(x & 1);
    }
    for (r = 0; r < runs; ++r) {
        t0 = now();
        NAME_pack(bits, 0, n, w);
        t1 = now();
        NAME_gates(w);
        t2 = now();
        NAME_count(w, n, scores);
        t3 = now();
        pack = t1 - t0 < pack ? t1 - t0 : pack;
        gates = t2 - t1 < gates ? t2 - t1 : gates;
        count = t3 - t2 < count ? t3 - t2 : count;
        t0 = now();
        walk_wiring(w);
        t1 = now();
        walk = t1 - t0 < walk ? t1 - t0 : walk;
    }
    printf("{\"pack_s\": %g, \"gates_s\": %g, \"count_s\": %g, \"walk_s\": %g, "
           "\"cycle_s\": %g, \"word_bits\": %d}\n", pack, gates, count, walk,
           1.0 / clock_hz(), (int)n);
    return 0;
}
"""


def phase_times(c_file: Path, name: str, simd: str, runs: int) -> dict:
    """Per-phase seconds of one pass and the measured clock period (the PHASE_TIMER program)."""
    timer = c_file.parent / "phase_timer.c"
    timer.write_text(PHASE_TIMER.replace("NAME", name).replace("UPPER", name.upper()))
    exe = c_file.parent / "phase_timer"
    subprocess.run(["gcc", "-O2", "-std=gnu11", *SIMD_CFLAGS[simd], "-I", str(c_file.parent),
                    "-o", str(exe), str(timer)], check=True)
    result = subprocess.run([str(exe), str(runs)], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


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


def best_cpu_seconds(run, repeat: int, clock=time.process_time) -> float:
    """Best process CPU time of `repeat` calls (robust to other processes on the machine;
    `clock=time.perf_counter` for threaded runs)."""
    best = float("inf")
    for _ in range(repeat):
        start = clock()
        run()
        best = min(best, clock() - start)
    return best


def interleaved_best(measure: dict, rounds: int) -> dict:
    """key -> the smallest of each figure `measure[key]()` returned over `rounds` rounds that
    take every key in turn: on a shared machine the slow spells hit all codes alike, so
    their ratios hold even when the absolute figures wander."""
    best: dict = {}
    for _ in range(rounds):
        for key, run in measure.items():
            figures = run()
            best[key] = {k: min(v, best.get(key, {}).get(k, v)) for k, v in figures.items()}
    return best


def roofline(simd: str, hz: float, gates: int) -> float:
    """Samples/s if every evaluated gate took one bitwise op at the assumed issue rate."""
    return ASSUMED_OPS_PER_CYCLE[simd] * LANES[simd] * hz / max(gates, 1)


def build_mode(label: str, g, simd: str, bits: np.ndarray, expected: np.ndarray,
               work: Path) -> tuple[dict, CLibrary, Path]:
    """Emit and build one --simd mode, check it against the reference: (row, library, .c)."""
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
    assert np.array_equal(library.scores(pack_inputs(bits), packed=True), expected), \
        f"{label} {simd} packed input disagrees"
    assert all(np.array_equal(library.classify(row)[1], want)
               for row, want in zip(bits[:50], expected[:50])), f"{label} {simd} one-sample"
    row = {"model": label, "code": "lgn-compile", "simd": simd,
           "emit_s": round(emit_s, 3), "gcc_s": round(gcc_s, 2)}
    return row, library, directory / f"{name}.c"


def bench_model(label: str, raw, bits: np.ndarray, repeat: int, rounds: int, baseline: bool,
                baseline_timeout: float, work: Path) -> list[dict]:
    """Rows of the table for one network: each runnable --simd mode, then the baseline."""
    start = time.perf_counter()
    g, _ = run_pipeline(raw, PRESETS[2])
    passes_s = time.perf_counter() - start
    expected = evaluate.scores(raw, bits)
    evaluated, gates = len(plan(g).gates), ir.stats(raw)["gates"]
    name = g.graph["name"]
    rows, runs, phases, clocks = {}, {}, {}, {}
    cores = available_cores()
    for simd in [m for m in SIMD_MODES if m != "auto" and simd_supported(m)]:
        rows[simd], library, c_file = build_mode(label, g, simd, bits, expected, work)
        rows[simd]["passes_s"] = round(passes_s, 2)
        runs[simd] = library.batch_runner(bits)
        runs[f"{simd} packed"] = library.batch_runner(pack_inputs(bits), packed=True)
        if cores > 1:
            rows[f"{simd} mt"] = {**rows[simd], "threads": cores}
            runs[f"{simd} mt"] = library.batch_runner(bits, threads=cores)
            runs[f"{simd} mt packed"] = library.batch_runner(pack_inputs(bits), packed=True,
                                                             threads=cores)
            clocks[f"{simd} mt"] = clocks[f"{simd} mt packed"] = time.perf_counter
        phases[simd] = (lambda c_file=c_file, simd=simd:
                        phase_times(c_file, name, simd, 20 * repeat))
    if baseline:
        rows["baseline"], runs["baseline"] = build_baseline(label, raw, bits, expected,
                                                            baseline_timeout, work)
    seconds = interleaved_best({key: (lambda run=run, key=key: {"s": best_cpu_seconds(
        run, repeat, clocks.get(key, time.process_time))}) for key, run in runs.items()}, rounds)
    phases = interleaved_best(phases, rounds)
    for key, row in rows.items():
        row.setdefault("threads", 1)
        row.update(gates=gates, evaluated=evaluated,
                   samples_per_s=round(len(bits) / seconds[key]["s"]))
        if f"{key} packed" in seconds:
            row["packed_samples_per_s"] = round(len(bits) / seconds[f"{key} packed"]["s"])
    hz = 1 / min(phase["cycle_s"] for phase in phases.values())  # the fastest clock seen
    for simd, phase in phases.items():
        gate_rate = phase["word_bits"] / phase["gates_s"]
        ceiling = roofline(simd, hz, evaluated)
        rows[simd].update({
            "clock_mhz": round(hz / 1e6),
            "pass_us": {k[:-2]: round(phase[k] * 1e6, 2) for k in ("pack_s", "gates_s", "count_s")},
            "gate_kernel_samples_per_s": round(gate_rate),
            "roofline_samples_per_s": round(ceiling),
            "percent_of_roofline": round(100 * gate_rate / ceiling, 2),
            "cycles_per_gate": round(phase["gates_s"] * hz / evaluated, 2),
            "floor_cycles_per_gate": round(phase["walk_s"] * hz / evaluated, 2),
            "percent_end_to_end": round(100 * rows[simd]["samples_per_s"] / ceiling, 2)})
    if baseline:
        base = rows["baseline"]
        base.update(roofline_samples_per_s=round(roofline("baseline", hz, evaluated)),
                    percent_end_to_end=round(100 * base["samples_per_s"]
                                             / roofline("baseline", hz, evaluated), 2))
        for key, row in rows.items():
            if key != "baseline":
                row["x_baseline"] = round(row["samples_per_s"] / base["samples_per_s"], 2)
    for row in rows.values():
        row.setdefault("percent_end_to_end", "-")  # threaded rows: not a one-core figure
    return list(rows.values())


def build_baseline(label, g, bits, expected, timeout, work: Path) -> tuple[dict, object]:
    """The difflogic-style C built and checked: (row, a function running the whole batch)."""
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
    return {"model": label, "code": "difflogic-style", "simd": "baseline",
            "emit_s": round(emit_s, 3), "gcc_s": round(gcc_s, 2)}, run


def digits_graph(model_path: str | None, work: Path):
    if model_path is None:
        model_path = str(work / "digits.pt")
        subprocess.run([sys.executable, "-m", "lgn_train", "--dataset", "digits", "--layers",
                        "300,200", "--epochs", "15", "--thresholds", "3", "-q", "-o",
                        model_path], check=True, cwd=ROOT)
    return ir.from_model(load_model(model_path))


def print_table(rows: list[dict]) -> None:
    header = (f"{'model':<9} {'gates':>6} {'eval':>6} {'code':<16} {'simd':<8} {'thr':>3} "
              f"{'pass s':>6} "
              f"{'emit s':>6} {'gcc s':>6} {'samples/s':>11} {'x base':>6} "
              f"{'packed in/s':>11} {'gates-only/s':>12} {'% roof':>6} {'% e2e':>6} "
              f"{'cyc/gate':>8} {'floor':>5}")
    print(header)
    print("-" * len(header))
    for r in rows:
        kernel, packed = r.get("gate_kernel_samples_per_s"), r.get("packed_samples_per_s")
        print(f"{r['model']:<9} {r['gates']:>6} {r['evaluated']:>6} {r['code']:<16} "
              f"{r['simd']:<8} {r['threads']:>3} {r.get('passes_s', '-'):>6} {r['emit_s']:>6.2f} "
              f"{r['gcc_s']:>6.2f} {r['samples_per_s']:>11,} {r.get('x_baseline', ''):>6} "
              f"{'-' if packed is None else f'{packed:,}':>11} "
              f"{'-' if kernel is None else f'{kernel:,}':>12} "
              f"{r.get('percent_of_roofline', '-'):>6} {r['percent_end_to_end']:>6} "
              f"{r.get('cycles_per_gate', '-'):>8} {r.get('floor_cycles_per_gate', '-'):>5}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits-model", help="a trained digits model.pt (default: train one)")
    parser.add_argument("--samples", type=int, default=8192)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=5,
                        help="rounds over all codes in turn; each figure is its best round")
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
                            args.repeat, args.rounds, True, args.baseline_timeout, work)
        mnist = ir.from_model(_validate(random_model_dict(
            0, num_inputs=784, layer_sizes=(8000,) * 6, num_classes=10, name="mnist48k")))
        rows += bench_model("mnist48k", mnist, random_input_bits(2, args.samples, 784),
                            args.repeat, args.rounds, not args.skip_large_baseline,
                            args.baseline_timeout,
                            work)
    print(f"clock (measured) {rows[0]['clock_mhz']} MHz; roofline ops/cycle assumed: "
          f"{ASSUMED_OPS_PER_CYCLE}; gates: the net's, eval: evaluated after -O2 passes")
    print_table(rows)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"cpu": cpu_model(), "cores": available_cores(),
                                   "assumed_ops_per_cycle": ASSUMED_OPS_PER_CYCLE,
                                   "samples": args.samples, "rows": rows}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
