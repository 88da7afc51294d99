"""Thread scaling of the C batch API (`<name>_scores_mt`): samples/s on 1..T threads.

For one model, per SIMD width and input form (one byte per input bit, or packed bits), the
best of interleaved rounds (every configuration once per round), so a machine whose speed
wanders affects all alike. Large batches by default: each thread takes a slice of the
samples, and a small batch is mostly thread start-up. Prints a table and writes
benchmarks/results/c_threads.json.

    python benchmarks/c_threads.py model.pt [--simd u64,v128,avx2] [--samples 65536]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

import lgn_compile
from lgn_compile.model_file import load_model
from lgn_compile.verify.c_build import available_cores, pack_inputs
from machine import cpu_model  # benchmarks/ is the script's directory

RESULTS = Path(__file__).resolve().parent / "results" / "c_threads.json"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", type=Path)
    p.add_argument("--simd", default="u64,v128,avx2")
    p.add_argument("--samples", type=int, default=65536)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=available_cores(),
                   help="the most threads to try (default: the cores this process may use)")
    args = p.parse_args(argv)
    model = load_model(args.model)
    bits = np.random.default_rng(0).integers(0, 2, (args.samples, model.num_inputs), np.uint8)
    inputs = {"bytes": bits, "packed": pack_inputs(bits)}
    threads = range(1, args.threads + 1)
    rows = []
    for simd in args.simd.split(","):
        compiled = lgn_compile.compile(model, "c", opt_level=2, simd=simd)
        library = compiled.library()
        reference = library.scores(bits, threads=1)
        runners = {(form, t): library.batch_runner(data, form == "packed", t)
                   for form, data in inputs.items() for t in threads}
        best = {}
        for _ in range(args.rounds):
            for key, run in runners.items():
                start = time.perf_counter()
                scores = run()
                best[key] = min(best.get(key, float("inf")), time.perf_counter() - start)
                if not np.array_equal(scores, reference):
                    raise SystemExit(f"{simd} {key}: scores differ from one thread's")
        for form in inputs:
            one = best[(form, 1)]
            for t in threads:
                rows.append({"simd": simd, "input": form, "threads": t,
                             "samples_per_s": args.samples / best[(form, t)],
                             "speedup": one / best[(form, t)]})
                print(f"{simd:5} {form:6} {t} threads: "
                      f"{rows[-1]['samples_per_s'] / 1e6:7.2f} M samples/s "
                      f"x{rows[-1]['speedup']:.2f}", flush=True)
    RESULTS.write_text(json.dumps({
        "benchmark": "c_threads", "model": str(args.model.name),
        "gates_after": compiled.report["optimization"]["after"]["gates"],
        "samples": args.samples,
        "rounds": args.rounds, "cpu": cpu_model(), "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "rows": rows},
        indent=1) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
