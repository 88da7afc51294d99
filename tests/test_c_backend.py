"""The C backend: emitted C, built by the real gcc, agrees bit-exactly with the IR reference."""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess

import numpy as np
import pytest

from lgn_compile import evaluate, ir
from lgn_compile.backends.c import emit_c
from lgn_compile.bitpack import pack_bits
from lgn_compile.errors import LgnError
from lgn_compile.model_file import _validate
from lgn_compile.passes import run_pipeline
from lgn_compile.random_net import random_input_bits, random_model_dict
from lgn_compile.verify.c_build import CLibrary, build_shared_library

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")

OPT = ["const_fold", "dead_gates"]
# Sample counts around the 64-sample block edges, and not multiples of 64.
SAMPLE_COUNTS = (1, 63, 64, 65, 200)


def make_graph(seed=0, passes=(), **kwargs):
    graph = ir.from_model(_validate(random_model_dict(seed, **kwargs)))
    if passes:
        graph, _ = run_pipeline(graph, list(passes))
    return graph


def write_files(graph, directory, **emit_options):
    directory.mkdir(parents=True, exist_ok=True)
    files = emit_c(graph, **emit_options)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory / f"{graph.graph['name']}.c"


def build(graph, directory, extra_flags=(), **emit_options):
    c_file = write_files(graph, directory, **emit_options)
    library = build_shared_library(c_file, directory / f"lib{graph.graph['name']}.so",
                                   extra_flags)
    return CLibrary(library, graph.graph["name"], graph.graph["num_inputs"],
                    graph.graph["num_classes"])


CASES = {
    "arity2": dict(seed=0, num_inputs=13, layer_sizes=(40, 30, 24), num_classes=4),
    "arity2-opt": dict(seed=1, num_inputs=13, layer_sizes=(40, 30, 24), num_classes=4,
                       passes=OPT),
    "arity1": dict(seed=2, num_inputs=5, layer_sizes=(12, 8), num_classes=2, arity=1),
    "arity3": dict(seed=3, num_inputs=11, layer_sizes=(30, 20, 12), num_classes=3, arity=3),
    "arity4-opt": dict(seed=4, num_inputs=9, layer_sizes=(30, 16), num_classes=4, arity=4,
                       passes=OPT),
    "arity5": dict(seed=5, num_inputs=17, layer_sizes=(20, 15), num_classes=5, arity=5),
    "arity6": dict(seed=6, num_inputs=7, layer_sizes=(25, 12), num_classes=2, arity=6),
    "arity6-opt": dict(seed=7, num_inputs=8, layer_sizes=(25, 12), num_classes=2, arity=6,
                       passes=OPT),
    "group1": dict(seed=8, num_inputs=10, layer_sizes=(20, 6), num_classes=6),
    "group1-opt": dict(seed=9, num_inputs=10, layer_sizes=(20, 6), num_classes=6, passes=OPT),
    "one-input": dict(seed=10, num_inputs=1, layer_sizes=(4,), num_classes=2),
    "wide-inputs": dict(seed=11, num_inputs=131, layer_sizes=(60, 40), num_classes=8),
    "one-layer-opt": dict(seed=12, num_inputs=6, layer_sizes=(9,), num_classes=3, passes=OPT),
    "deep": dict(seed=13, num_inputs=12, layer_sizes=(16,) * 10, num_classes=2),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_batch_api_matches_reference(case, tmp_path):
    options = dict(CASES[case])
    graph = make_graph(**options)
    # Tiny parts in one case per two, so values also cross part boundaries within a layer.
    library = build(graph, tmp_path, max_part_gates=7 if options["seed"] % 2 else 128)
    for count in SAMPLE_COUNTS:
        bits = random_input_bits(options["seed"] * 1000 + count, count, graph.graph["num_inputs"])
        expected = evaluate.scores(graph, bits)
        got = library.scores(bits)
        assert got.dtype == np.int64 and got.shape == expected.shape
        assert np.array_equal(got, expected), f"{case}, N={count}"


def random_dag(seed, num_inputs=9, num_gates=60, num_classes=3, group_size=4):
    """An IR that is not layered: gates read any earlier node (inputs, constants, gates of
    the same `layer`), have arity 1..6, and outputs may be driven by inputs or constants."""
    rng = np.random.default_rng(seed)
    graph = ir.new_ir("dag_net", num_inputs, num_classes, group_size)
    nodes = list(range(num_inputs)) + [ir.add_const(graph, 0), ir.add_const(graph, 1)]
    for i in range(num_gates):
        arity = int(rng.integers(1, 7))
        operands = tuple(int(op) for op in rng.choice(nodes, size=arity))
        table = int(rng.integers(0, 1 << (1 << arity), dtype=np.uint64)) if arity < 6 else \
            int(rng.integers(0, 1 << 63)) * 2 + int(rng.integers(0, 2))
        nodes.append(ir.add_gate(graph, table, operands, layer=i // 25))
    for index in range(num_classes * group_size):
        driver = nodes[-1 - index] if index % 5 else int(rng.choice(nodes))
        ir.add_output(graph, driver, index, index // group_size)
    ir.validate(graph)
    return graph


@pytest.mark.parametrize("seed", range(4))
def test_unlayered_dag_with_locals(seed, tmp_path):
    """Gates reading gates of their own part become locals; values cross parts; gates
    that nothing reads become `(void)` statements; outputs read inputs and constants."""
    graph = random_dag(seed)
    bits = random_input_bits(seed, 100, 9)
    expected = evaluate.scores(graph, bits)
    for part_size in (128, 1, 6):
        library = build(graph, tmp_path / str(part_size), max_part_gates=part_size)
        assert np.array_equal(library.scores(bits), expected), part_size
    source = emit_c(graph)["dag_net.c"]
    assert "const uint64_t g" in source and "(void)(" in source


def test_one_sample_api_matches_batch_api(tmp_path):
    graph = make_graph(seed=21, num_inputs=15, layer_sizes=(30, 12), num_classes=6)
    library = build(graph, tmp_path)
    bits = random_input_bits(21, 150, 15)
    batch = library.scores(bits)
    ties = 0
    for row, expected in zip(bits, batch):
        cls, scores = library.classify(row)
        assert np.array_equal(scores, expected)
        assert cls == int(np.argmax(expected))  # ties go to the lowest class index
        ties += int((expected == expected.max()).sum() > 1)
    assert ties > 0  # the tie rule was exercised (2-bit groups tie often)
    # eval64 (one block, stack workspace) agrees with eval_batch.
    planes = np.ascontiguousarray(pack_bits(bits[:64])[:, 0])
    out = np.zeros((64, 6), dtype=np.uint32)
    library._lib.random_net_eval64(planes.ctypes.data_as(ctypes.c_void_p),
                                   out.ctypes.data_as(ctypes.c_void_p))
    assert np.array_equal(out, batch[:64])


def test_embedded_main_program(tmp_path):
    """The header is enough for a C program: macros size static buffers, classify_ws runs."""
    graph = make_graph(seed=30, num_inputs=10, layer_sizes=(24, 12), num_classes=3)
    c_file = write_files(graph, tmp_path)
    bits = random_input_bits(30, 20, 10)
    rows = ",\n".join("{" + ",".join(map(str, row)) + "}" for row in bits)
    (tmp_path / "main.c").write_text(f"""#include <stdio.h>
#include "random_net.h"
static const uint8_t samples[{len(bits)}][RANDOM_NET_NUM_INPUTS] = {{{rows}}};
static uint64_t work[RANDOM_NET_CLASSIFY_WORK_WORDS];
int main(void)
{{
    uint32_t scores[RANDOM_NET_NUM_CLASSES];
    size_t i;
    int c;
    for (i = 0; i < {len(bits)}; ++i) {{
        printf("%d", random_net_classify_ws(samples[i], work, scores));
        for (c = 0; c < RANDOM_NET_NUM_CLASSES; ++c)
            printf(" %u", (unsigned)scores[c]);
        printf("\\n");
    }}
    return 0;
}}
""")
    exe = tmp_path / "main"
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(exe),
                    str(tmp_path / "main.c"), str(c_file)], check=True)
    lines = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    expected = evaluate.scores(graph, bits)
    got = np.array([[int(v) for v in line.split()] for line in lines.splitlines()])
    assert np.array_equal(got[:, 1:], expected)
    assert np.array_equal(got[:, 0], np.argmax(expected, axis=1))


def test_nonzero_input_bytes_count_as_one(tmp_path):
    graph = make_graph(seed=22, num_inputs=9, layer_sizes=(16, 8), num_classes=2)
    library = build(graph, tmp_path)
    bits = random_input_bits(22, 70, 9)
    fuzzy = bits * np.uint8(200)
    assert np.array_equal(library.scores(fuzzy), library.scores(bits))
    assert np.array_equal(library.classify(fuzzy[3])[1], library.classify(bits[3])[1])


def test_constant_and_wire_outputs(tmp_path):
    """Outputs driven by constants and input bits (whole layers folded away), and
    constant-table gates left in when folding is off."""
    import torch

    raw = random_model_dict(23, num_inputs=5, layer_sizes=(8, 6), num_classes=3)
    tables = raw["discrete"]["tables"][1]
    tables[0:2] = torch.tensor([0, 0, 0, 0], dtype=torch.uint8)  # FALSE
    tables[2:4] = torch.tensor([1, 1, 1, 1], dtype=torch.uint8)  # TRUE
    tables[4:6] = torch.tensor([0, 1, 0, 1], dtype=torch.uint8)  # A (a wire)
    raw["discrete"]["tables"][0][:] = torch.tensor([0, 1, 0, 1], dtype=torch.uint8)
    graph = ir.from_model(_validate(raw))
    bits = random_input_bits(23, 100, 5)
    for passes, tag in ((None, "raw"), (OPT, "opt")):
        g = run_pipeline(graph, passes)[0] if passes else graph
        library = build(g, tmp_path / tag)
        assert np.array_equal(library.scores(bits), evaluate.scores(graph, bits))
        assert np.array_equal(library.classify(bits[0])[1], evaluate.scores(graph, bits[:1])[0])
    assert ir.stats(g)["gates"] == 0  # everything folded: outputs read x and constants only


def test_strict_warnings_and_pedantic_c99(tmp_path):
    """Beyond the default -Wall -Wextra -Werror: pedantic C99, conversions, shadowing, -O0/-O3."""
    graph = make_graph(seed=24, num_inputs=11, layer_sizes=(30, 20, 12), num_classes=3, arity=3)
    strict = ("-pedantic-errors", "-Wconversion", "-Wshadow", "-Wstrict-prototypes",
              "-Wmissing-prototypes", "-Wcast-qual", "-Wundef")
    bits = random_input_bits(24, 100, 11)
    for flags, tag in ((strict, "strict"), (("-O0",), "o0"), (("-O3", "-march=native"), "o3")):
        library = build(graph, tmp_path / tag, extra_flags=flags, max_part_gates=9)
        assert np.array_equal(library.scores(bits), evaluate.scores(graph, bits)), tag


def test_source_shape_and_api(tmp_path):
    graph = make_graph(seed=25, num_inputs=13, layer_sizes=(40, 24), num_classes=4,
                       name="shape_net")
    files = emit_c(graph, max_part_gates=16)
    assert sorted(files) == ["shape_net.c", "shape_net.h"]
    header, source = files["shape_net.h"], files["shape_net.c"]
    for macro, value in (("NUM_INPUTS", 13), ("NUM_CLASSES", 4), ("GROUP_SIZE", 6),
                         ("NUM_OUTPUTS", 24)):
        assert f"#define SHAPE_NET_{macro} {value}\n" in header
    for function in ("shape_net_eval64(", "shape_net_eval_batch(", "shape_net_classify(",
                     "shape_net_argmax(", "shape_net_eval64_ws(", "shape_net_classify_ws("):
        assert function in header and function in source
    assert "malloc" not in source
    # Only const tables may be global; parts are bounded; one statement per gate.
    assert not re.search(r"^static (?!const|void)", source, re.M)
    parts = re.findall(r"^static void shape_net_part\d+\(", source, re.M)
    assert len(parts) == 2 + 3  # 40 gates -> 16+16+8, 24 gates -> 16+8
    statements = re.findall(r"^    (?:w\[\d+\] = |const uint64_t g\d+ = |\(void\)\().*;", source,
                            re.M)
    assert len(statements) >= ir.stats(graph)["gates"]


def test_emission_is_deterministic():
    options = dict(seed=26, num_inputs=10, layer_sizes=(30, 20), num_classes=4, arity=3)
    first = emit_c(make_graph(**options, passes=OPT))
    second = emit_c(make_graph(**options, passes=OPT))
    assert first == second
    assert emit_c(make_graph(**options)) == emit_c(make_graph(**options))


def test_mutated_gate_is_caught(tmp_path):
    """The differential check bites: invert one live gate (it drives an output) and rebuild."""
    graph = make_graph(seed=27, num_inputs=12, layer_sizes=(30, 20), num_classes=4)
    bits = random_input_bits(27, 130, 12)
    c_file = write_files(graph, tmp_path)
    good = CLibrary(build_shared_library(c_file, tmp_path / "libgood.so"), "random_net", 12, 4)
    assert np.array_equal(good.scores(bits), evaluate.scores(graph, bits))

    source = c_file.read_text()
    # An output plane store: w[k] with k < NUM_OUTPUTS (20) is output bit k.
    match = re.search(r"^    w\[(1?\d)\] = (.*); /\* g\d+ \*/$", source, re.M)
    assert match, "no output-driving gate statement found"
    mutated = (source[:match.start(2)] + f"~({match.group(2)})" + source[match.end(2):])
    c_file.write_text(mutated)
    bad = CLibrary(build_shared_library(c_file, tmp_path / "libbad.so"), "random_net", 12, 4)
    bad_scores = bad.scores(bits)
    expected = evaluate.scores(graph, bits)
    # Flipping an output bit moves its class score in every sample.
    assert (bad_scores != expected).any(axis=1).all()


def test_thermometer_encoder_matches_model(tmp_path):
    import torch

    features, thresholds_per = 5, 3
    raw = random_model_dict(28, num_inputs=features * thresholds_per, layer_sizes=(20, 8),
                            num_classes=2)
    rng = np.random.default_rng(28)
    thresholds = np.sort(rng.normal(size=(features, thresholds_per)).astype(np.float32), axis=1)
    thresholds[0, 0] = np.float32(0.1)  # not exact in binary: the literal must round-trip
    raw["config"]["encoder"] = {"type": "thermometer", "num_features": features,
                                "num_thresholds": thresholds_per}
    raw["state_dict"]["encoder.thresholds"] = torch.from_numpy(thresholds)
    model = _validate(raw)
    graph = ir.from_model(model)
    library = build(graph, tmp_path)
    assert "#define RANDOM_NET_NUM_FEATURES 5" in (tmp_path / "random_net.h").read_text()
    values = rng.normal(size=(300, features)).astype(np.float32)
    values[:features, :] = thresholds.T[:1].repeat(features, 0)  # exactly on a threshold
    values[5, 0] = np.nextafter(np.float32(0.1), np.float32(1))
    encoded = library.encode(values)
    assert np.array_equal(encoded, model.encoder.encode(values))
    assert np.array_equal(library.scores(encoded), evaluate.scores(graph, encoded))


def test_build_errors_are_lgn_errors(tmp_path, monkeypatch):
    broken = tmp_path / "broken.c"
    broken.write_text("int f(void) { return undeclared_name; }\n")
    with pytest.raises(LgnError, match=r"broken\.c:1:\d+: error: .*undeclared_name"):
        build_shared_library(broken, tmp_path / "libbroken.so")
    warning = tmp_path / "warning.c"
    warning.write_text("int f(int unused) { return 0; }\n")  # a warning, -Werror makes it fatal
    with pytest.raises(LgnError, match="unused"):
        build_shared_library(warning, tmp_path / "libwarning.so")
    with pytest.raises(LgnError, match="not found"):
        build_shared_library(tmp_path / "missing.c", tmp_path / "libmissing.so")
    monkeypatch.setattr("lgn_compile.verify.c_build.CC", "no-such-gcc-lgn")
    with pytest.raises(LgnError, match="no-such-gcc-lgn not found"):
        build_shared_library(broken, tmp_path / "libbroken.so")


def test_wrong_symbol_or_shape_is_reported(tmp_path):
    graph = make_graph(seed=29, num_inputs=6, layer_sizes=(8, 4), num_classes=2)
    library = build(graph, tmp_path)
    with pytest.raises(LgnError, match="other_eval_batch"):
        CLibrary(library.path, "other", 6, 2)
    with pytest.raises(ValueError, match=r"\[N, 6\]"):
        library.scores(np.zeros((3, 5), dtype=np.uint8))
    assert library.scores(np.zeros((0, 6), dtype=np.uint8)).shape == (0, 2)
