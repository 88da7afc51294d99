"""Compile time and memory by stage for random k=2, 8-layer nets of 10k, 100k and 1M gates.

Each size runs in a fresh subprocess (one core's worth of work, peak RSS not shared):
model.pt -> load -> IR (passes.initial_ir: bulk_fold at -O1/-O2) -> the networkx passes
(-O2, validated) -> reference evaluation of 1024 vectors -> Python, C and Verilog text.
Then the whole job once more as a user runs it, `lgn-compile model.pt -t all` in a child
process (imports, report and file writing included): its CPU time and peak RSS are the
figures the 1M-gate target (60 s, 4 GiB, one core) is about. Prints a table and writes
benchmarks/results/compile_scale.json.

    python benchmarks/compile_scale.py                 # 10k, 100k, 1M gates
    python benchmarks/compile_scale.py --sizes 10000   # just one size
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "compile_scale.json"
LAYERS, ARITY, NUM_CLASSES, NUM_INPUTS = 8, 2, 10, 784


def _rss_mib() -> float:
    """Current resident set size of this process (MiB)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def measure(gates: int, passes: str, path: Path) -> dict:
    """Run every stage once for a net of `gates` gates, saved first as model file `path`;
    returns seconds and RSS per stage."""
    from lgn_compile import evaluate, ir
    from lgn_compile.compiler import BACKENDS
    from lgn_compile.model_file import load_model, save_model
    from lgn_compile.passes import PRESETS, initial_ir, run_pipeline
    from lgn_compile.random_net import random_input_bits, random_model_dict

    width = gates // LAYERS // NUM_CLASSES * NUM_CLASSES
    save_model(path, random_model_dict(0, num_inputs=NUM_INPUTS, layer_sizes=(width,) * LAYERS,
                                       num_classes=NUM_CLASSES, arity=ARITY))
    stages, state = [], {}

    def stage(name, work):
        start, cpu_start = time.perf_counter(), time.process_time()
        detail = work()
        stages.append({"stage": name, "seconds": round(time.perf_counter() - start, 3),
                       "cpu_seconds": round(time.process_time() - cpu_start, 3),
                       "rss_mib": round(_rss_mib(), 1), "detail": detail})

    def load():
        state["model"] = load_model(path)
        return f"{state['model'].num_gates} gates"

    def extract():  # ir.from_model, or bulk_fold when the preset has its passes
        state["graph"], _ = initial_ir(state["model"], PRESETS[int(passes)])
        return f"{state['graph'].number_of_nodes()} nodes"

    def optimize():  # the rest of passes.optimize_model (which validates at the end)
        state["graph"], report = run_pipeline(state["graph"], PRESETS[int(passes)],
                                              copy=False)
        return f"{report['after']['gates']} gates, {len(report['rounds'])} rounds"

    def reference():
        bits = random_input_bits(1, 1024, NUM_INPUTS)
        return f"score sum {int(evaluate.scores(state['graph'], bits).sum())}"

    def backend(target):
        def emit():
            with ir.bulk_work():  # as compile_model runs the backends
                files = BACKENDS[target](state["graph"])
            return f"{sum(len(text) for text in files.values()) / 2**20:.1f} MiB"
        return emit

    stage("load", load)
    stage("IR (bulk_fold)", extract)
    stage(f"passes -O{passes}", optimize)
    stage("evaluate 1024", reference)
    for target in ("python", "c", "verilog"):
        try:  # another team's backend failing must not hide the rest
            stage(f"emit {target}", backend(target))
        except Exception as exc:  # noqa: BLE001
            stages.append({"stage": f"emit {target}", "seconds": None, "cpu_seconds": None,
                           "rss_mib": None,
                           "detail": f"failed: {type(exc).__name__}: {exc}"})
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    done = [s for s in stages if s["seconds"] is not None]
    return {"gates": width * LAYERS, "stages": stages,
            "total_seconds": round(sum(s["seconds"] for s in done), 2),
            "total_cpu_seconds": round(sum(s["cpu_seconds"] for s in done), 2),
            "peak_rss_mib": round(peak, 1)}


def run_cli(model: Path, out: Path, passes: str) -> dict:
    """`lgn-compile model -t all` in a child process: wall and CPU seconds, peak RSS (MiB).

    Started from this small parent process and reaped with wait4, so the figures are the
    child's own (a forked child's peak RSS starts at its parent's size)."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "lgn_compile", str(model), "-t", "all",
                              f"-O{passes}", "-o", str(out), "-q"])
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise subprocess.CalledProcessError(child.returncode, child.args)
    return {"seconds": round(time.perf_counter() - start, 2),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="comma-separated gate counts (default: 10k, 100k, 1M)")
    parser.add_argument("-O", dest="level", default="2", help="pass preset (default: 2)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # child process: one size
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)  # where --one saves it
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.level, args.model)))
        return
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            model = Path(tmp) / "model.pt"
            child = subprocess.run([sys.executable, __file__, "--one", str(size), "-O",
                                    args.level, "--model", str(model)],
                                   capture_output=True, text=True, check=True)
            result = json.loads(child.stdout.splitlines()[-1])
            result["cli"] = run_cli(model, Path(tmp) / "out", args.level)
        results.append(result)
        print(f"\n{result['gates']:,} gates: total {result['total_seconds']} s wall, "
              f"{result['total_cpu_seconds']} s CPU, peak RSS {result['peak_rss_mib']:.0f} MiB")
        print(f"  {'stage':<16} {'wall s':>8} {'CPU s':>8} {'RSS MiB':>8}  detail")
        for s in result["stages"]:
            wall, cpu, rss = (("-" if s[k] is None else f"{s[k]:{spec}}")
                              for k, spec in (("seconds", ".2f"), ("cpu_seconds", ".2f"),
                                              ("rss_mib", ".0f")))
            print(f"  {s['stage']:<16} {wall:>8} {cpu:>8} {rss:>8}  {s['detail'] or ''}")
        cli = result["cli"]
        print(f"  {'lgn-compile -t all':<16} {cli['seconds']:>8.2f} {cli['cpu_seconds']:>8.2f} "
              f"{cli['peak_rss_mib']:>8.0f}  (peak RSS of the whole run)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"benchmark": "compile_scale", "layers": LAYERS,
                                   "arity": ARITY, "results": results}, indent=2) + "\n")
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
