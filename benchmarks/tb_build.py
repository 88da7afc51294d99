"""Build time of the emitted cocotb testbench under Verilator (`--testbench`, `run_tb.py`).

A random net of --gates two-input gates (784 inputs, 4 layers, 10 classes) is compiled at
-O0 (every gate stays in the Verilog) with --testbench, then `python run_tb.py verilator`
runs with the C++ of the Verilated model compiled at Verilator's default (-Os) and at the
runner's default (-O0), alternating, --rounds times each. Prints a table and writes
benchmarks/results/tb_build.json (wall seconds of the whole run: verilate, C++ build,
simulate 256 vectors; and whether it passed).

    python benchmarks/tb_build.py --gates 10000 --rounds 1
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
from machine import cpu_model  # benchmarks/ is the script's directory

RESULTS = Path(__file__).resolve().parent / "results" / "tb_build.json"
VARIANTS = {"lgn runner (-O0)": "-O0", "verilator default (-Os)": "-Os"}


def main() -> None:
    from lgn_compile.cli import main as compile_main
    from lgn_compile.model_file import save_model
    from lgn_compile.random_net import random_model_dict

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gates", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1800,
                        help="seconds per run; a run past it is recorded as timed out")
    args = parser.parse_args()
    width = args.gates // 4 // 10 * 10
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        save_model(tmp / "m.pt", random_model_dict(0, num_inputs=784, layer_sizes=(width,) * 4,
                                                  num_classes=10, name="tbnet"))
        assert compile_main([str(tmp / "m.pt"), "-t", "verilog", "--testbench", "-O0", "-q",
                             "-o", str(tmp / "out")]) == 0
        for round_ in range(args.rounds):
            for label, opt in VARIANTS.items():
                subprocess.run(["rm", "-rf", str(tmp / "out" / "sim_build")], check=True)
                start = time.perf_counter()
                try:
                    proc = subprocess.run([sys.executable, "run_tb.py", "verilator"],
                                          cwd=tmp / "out", capture_output=True, text=True,
                                          env={**os.environ, "LGN_TB_CXXOPT": opt},
                                          timeout=args.timeout, start_new_session=True)
                    status = "PASS" if proc.returncode == 0 and "PASS" in proc.stdout else "FAIL"
                except subprocess.TimeoutExpired:
                    status = f"timed out after {args.timeout:.0f} s"
                    subprocess.run(["pkill", "-f", str(tmp / "out")], check=False)
                seconds = time.perf_counter() - start
                rows.append({"variant": label, "round": round_, "seconds": round(seconds, 1),
                             "status": status, "load_average": os.getloadavg()[0]})
                print(f"{label:<28} round {round_}: {seconds:7.1f} s  {status}", flush=True)
    result = {"benchmark": "tb_build", "gates": 4 * width, "cpu": cpu_model(),
              "cores": os.cpu_count(), "rows": rows}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
