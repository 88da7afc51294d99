"""Flash, RAM and instructions per inference of models on Cortex-M4 and M0+ (QEMU).

For each model: `make run-qemu` in a scratch BUILD, then from the linker maps the bytes
the model's own code and data keep after --gc-sections (flash: text + rodata; RAM:
data + bss, none by design), the workspace the caller provides, the stack high-water
mark of one inference and the instructions per inference (SysTick under -icount; the
most of any sample). Prints a table, writes benchmarks/results/embedded.json.

    python examples/embedded/measure.py digits.pt mnist.pt --data-dir DIR
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from lgn_compile import ir
from lgn_compile.backends.c import plan
from lgn_compile.model_file import load_model

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parents[1] / "benchmarks" / "results" / "embedded.json"
CPUS = {"m4": "Cortex-M4 (mps2-an386)", "m0plus": "Cortex-M0+ build (microbit)"}
# An input section of the map: name (maybe alone on its line), address, size, object file.
SECTION = re.compile(r"^ (\.[\w.$]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S+)$", re.MULTILINE)


def model_bytes(map_file: Path) -> dict:
    """Bytes of model.o's sections that the link kept, by kind."""
    text = map_file.read_text()
    kept = text[text.index("Linker script and memory map"):]
    kept = re.sub(r"\n\s+(0x)", r" \1", kept)  # long section names wrap onto the next line
    sizes = {"text": 0, "rodata": 0, "data": 0, "bss": 0}
    for name, size, obj in SECTION.findall(kept):
        kind = name.split(".")[1]
        if obj.endswith("model.o") and kind in sizes:
            sizes[kind] += int(size, 16)
    return sizes


def measure(model_path: Path, count: int, data_dir: str | None, build: Path) -> list[dict]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    result = subprocess.run(
        ["make", "-s", "-C", str(HERE), f"MODEL={model_path}", f"BUILD={build}",
         f"PYTHON={sys.executable}", f"COUNT={count}", "run-qemu",
         *([f"DATA_DIR={data_dir}"] if data_dir else [])],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, check=False)
    if result.returncode != 0:
        raise SystemExit(f"make failed for {model_path}:\n{result.stdout[-2000:]}")
    model = load_model(model_path)
    graph = ir.from_model(model)
    from lgn_compile.passes import PRESETS, run_pipeline
    evaluated = len(plan(run_pipeline(graph, PRESETS[2])[0]).gates)
    rows = []
    for cpu, report in zip(CPUS, result.stdout.split("workspace:")[:2]):
        def figure(label: str, report: str = report) -> int:
            return int(re.search(rf"{label}: (\d+)", report).group(1))
        sizes = model_bytes(build / cpu / "classify.map")
        workspace = int(re.search(r"workspace: (\d+)", result.stdout).group(1))
        instructions = figure("instructions per inference")
        rows.append({
            "model": model_path.stem, "dataset": model.meta.get("dataset"),
            "test_accuracy": model.meta.get("accuracy", {}).get("test_discrete"),
            "cpu": CPUS[cpu], "gates": model.num_gates, "evaluated_gates": evaluated,
            "samples_checked": count, "agree": "differing from the reference: 0 of" in report,
            "flash_bytes": sizes["text"] + sizes["rodata"], "code_bytes": sizes["text"],
            "rodata_bytes": sizes["rodata"],
            "ram_bytes": sizes["data"] + sizes["bss"] + workspace + figure("stack per inference"),
            "workspace_bytes": workspace, "stack_bytes": figure("stack per inference"),
            "instructions_per_inference": instructions,
            "instructions_per_gate": round(instructions / max(evaluated, 1), 1)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--data-dir")
    parser.add_argument("--count", type=int, default=20)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, path in enumerate(args.models):
            rows += measure(path.resolve(), args.count, args.data_dir, Path(tmp) / str(k))
    print(f"{'model':<12} {'acc':>5} {'cpu':<28} {'gates':>6} {'flash B':>8} {'RAM B':>6} "
          f"{'(stack)':>7} {'instr/inf':>10} {'instr/gate':>10} agree")
    for r in rows:
        acc = "-" if r["test_accuracy"] is None else f"{100 * r['test_accuracy']:.1f}"
        print(f"{r['model']:<12} {acc:>5} {r['cpu']:<28} {r['evaluated_gates']:>6} "
              f"{r['flash_bytes']:>8,} {r['ram_bytes']:>6,} {r['stack_bytes']:>7} "
              f"{r['instructions_per_inference']:>10,} {r['instructions_per_gate']:>10} "
              f"{r['agree']}")
    # rows of models measured before, under other names, stay
    names = {r["model"] for r in rows}
    kept = [r for r in (json.loads(RESULTS.read_text())["rows"] if RESULTS.exists() else [])
            if r["model"] not in names]
    RESULTS.write_text(json.dumps({"note": "QEMU 7.2, -icount shift=0; arm-none-eabi-gcc -Os",
                                   "rows": kept + rows}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
