"""A/B of the emitted C between a git revision (A) and the working tree (B): samples/s
from bytes and from packed bits, and gcc -O2 seconds, on the same random nets, timed in
interleaved rounds in one process (this machine's speed wanders by 2x over minutes:
interleaving keeps the ratio honest; each figure is the best of its rounds).

A is emitted by a `git worktree` of the revision, imported first on PYTHONPATH; both
emit the same nets (random_net with fixed seeds) and must score them identically.
Prints a table and writes benchmarks/results/c_ab.json.

    python benchmarks/c_ab.py --base 1ac3e98          # before/after a redesign
    python benchmarks/c_ab.py --base HEAD~1 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lgn_compile.random_net import random_input_bits
from lgn_compile.verify.c_build import CLibrary, build_shared_library, pack_inputs
from machine import cpu_model  # benchmarks/ is the script's directory

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "c_ab.json"
NETS = {  # name: random_model_dict arguments (inputs, layers, classes, arity)
    "small": dict(num_inputs=64, layer_sizes=(300, 200), num_classes=10),
    "lut3": dict(num_inputs=100, layer_sizes=(3000, 2000), num_classes=10, arity=3),
    "mnist48k": dict(num_inputs=784, layer_sizes=(8000,) * 6, num_classes=10),
}
SIMDS = ("u64", "v128", "avx2")
# Run by each revision's own lgn_compile: emit every net for every SIMD mode at -O2.
EMIT = """
import json
import sys
from pathlib import Path
from lgn_compile import ir
from lgn_compile.backends.c import emit_c
from lgn_compile.model_file import _validate
from lgn_compile.passes import PRESETS, run_pipeline
from lgn_compile.random_net import random_model_dict
out, nets, simds = Path(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3].split(",")
for name, kw in nets.items():
    g = run_pipeline(ir.from_model(_validate(random_model_dict(0, name=name, **kw))),
                     PRESETS[2])[0]
    for simd in simds:
        (out / simd).mkdir(parents=True, exist_ok=True)
        for f, text in emit_c(g, simd=simd).items():
            (out / simd / f).write_text(text)
"""


def emit(tree: Path, out: Path, simds) -> None:
    """Emit the nets' C with the lgn_compile of `tree` (its templates included)."""
    templates = tree / "lgn_compile" / "templates"
    if tree != ROOT and not templates.exists() and (tree / "templates").is_dir():
        templates.symlink_to(tree / "templates")  # the editable install maps it to B's
    subprocess.run([sys.executable, "-c", EMIT, str(out), json.dumps(NETS), ",".join(simds)],
                   check=True, cwd=tree, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"})


def best_cpu_seconds(run, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", required=True, help="git revision of A")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--samples", type=int, default=8192)
    p.add_argument("--simd", default=",".join(SIMDS))
    args = p.parse_args()
    simds = args.simd.split(",")
    base = subprocess.run(["git", "rev-parse", "--short", args.base], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run(["git", "worktree", "add", "-q", "--detach", str(tmp / "A-tree"), base],
                       cwd=ROOT, check=True)
        try:
            emit(tmp / "A-tree", tmp / "A", simds)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tmp / "A-tree")],
                           cwd=ROOT, check=True)
        emit(ROOT, tmp / "B", simds)
        libs, gcc_s = {}, {}
        for net, kw in NETS.items():
            bits = random_input_bits(1, args.samples, kw["num_inputs"])
            packed = pack_inputs(bits)
            for simd in simds:
                for ab in "AB":
                    source = tmp / ab / simd / f"{net}.c"
                    start = time.perf_counter()
                    so = build_shared_library(source, source.with_suffix(".so"), simd=simd)
                    gcc_s[net, simd, ab] = time.perf_counter() - start
                    lib = CLibrary(so, net, kw["num_inputs"], kw["num_classes"])
                    libs[net, simd, ab] = (lib.batch_runner(bits, False, 1),
                                           lib.batch_runner(packed, True, 1), lib)
                a, b = (libs[net, simd, ab][2].scores(bits[:256]) for ab in "AB")
                if not np.array_equal(a, b):
                    raise SystemExit(f"{net} {simd}: A and B score differently")
        best = {}
        for _ in range(args.rounds):
            for key, (run_bytes, run_packed, _lib) in libs.items():
                for kind, run in (("bytes", run_bytes), ("packed", run_packed)):
                    seconds = best_cpu_seconds(run, args.repeat)
                    best[key + (kind,)] = min(best.get(key + (kind,), seconds), seconds)
    rows = []
    print(f"A = {base}, B = working tree; {args.samples} samples, best of {args.rounds} "
          f"interleaved rounds x {args.repeat} calls; {cpu_model()}")
    print(f"{'net':9} {'simd':5} {'gcc A':>6} {'gcc B':>6} {'bytes/s A':>12} {'bytes/s B':>12} "
          f"{'B/A':>6} {'packed/s A':>12} {'packed/s B':>12} {'B/A':>6}")
    for net in NETS:
        for simd in simds:
            rate = {(ab, kind): args.samples / best[net, simd, ab, kind]
                    for ab in "AB" for kind in ("bytes", "packed")}
            row = {"net": net, "simd": simd,
                   "gcc_s": {ab: round(gcc_s[net, simd, ab], 2) for ab in "AB"},
                   "bytes_per_s": {ab: round(rate[ab, "bytes"]) for ab in "AB"},
                   "packed_per_s": {ab: round(rate[ab, "packed"]) for ab in "AB"}}
            rows.append(row)
            print(f"{net:9} {simd:5} {row['gcc_s']['A']:6.2f} {row['gcc_s']['B']:6.2f} "
                  f"{rate['A', 'bytes']:12,.0f} {rate['B', 'bytes']:12,.0f} "
                  f"{rate['B', 'bytes'] / rate['A', 'bytes']:6.3f} {rate['A', 'packed']:12,.0f} "
                  f"{rate['B', 'packed']:12,.0f} {rate['B', 'packed'] / rate['A', 'packed']:6.3f}")
    RESULTS.write_text(json.dumps({"benchmark": "c_ab", "base": base, "cpu": cpu_model(),
                                   "samples": args.samples, "rounds": args.rounds,
                                   "rows": rows}, indent=1) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
