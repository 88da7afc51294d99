"""The C backend: emitted C, built by the real gcc, agrees bit-exactly with the IR reference
for every --simd mode, the one-sample API, the C encoder, trained and random networks."""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from lgn_compile import evaluate, ir
from lgn_compile.backends.c import SIMD_MODES, emit_c, plan
from lgn_compile.errors import LgnError
from lgn_compile.model_file import _validate, load_model
from lgn_compile.passes import run_pipeline
from lgn_compile.random_net import random_input_bits, random_model_dict
from lgn_compile.verify.c_build import (
    CLibrary,
    build_shared_library,
    pack_inputs,
    simd_supported,
)

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")

ROOT = Path(__file__).resolve().parents[1]
OPT = ["const_fold", "dead_gates"]
# Sample counts around the 8-sample and 64..512-sample block edges.
SAMPLE_COUNTS = (1, 7, 63, 64, 65, 300, 513, 1100)
RUNNABLE_SIMD = [m for m in SIMD_MODES if simd_supported(m)]
SANITIZE = ("-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer")


def make_graph(seed=0, passes=(), **kwargs):
    graph = ir.from_model(_validate(random_model_dict(seed, **kwargs)))
    if passes:
        graph, _ = run_pipeline(graph, list(passes))
    return graph


def write_files(graph, directory, simd="auto"):
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in emit_c(graph, simd=simd).items():
        (directory / name).write_text(text)
    return directory / f"{graph.graph['name']}.c"


def build(graph, directory, simd="auto", extra_flags=()):
    c_file = write_files(graph, directory, simd)
    library = build_shared_library(c_file, directory / f"lib{graph.graph['name']}.so",
                                   extra_flags, simd=simd)
    return CLibrary(library, graph.graph["name"], graph.graph["num_inputs"],
                    graph.graph["num_classes"])


def assert_matches_reference(library, graph, bits, tag=""):
    expected = evaluate.scores(graph, bits)
    got = library.scores(bits)
    assert got.dtype == np.int64 and got.shape == expected.shape
    assert np.array_equal(got, expected), tag
    packed = pack_inputs(bits)
    packed[:, -1] |= np.uint8((0xFF << (bits.shape[1] % 8 or 8)) & 0xFF)  # ignored bits
    assert np.array_equal(library.scores(packed, packed=True), expected), f"{tag} packed"
    for threads, packed_in in ((3, False), (2, True), (100, False)):  # more than the slices
        got = library.scores(packed if packed_in else bits, packed=packed_in, threads=threads)
        assert np.array_equal(got, expected), f"{tag} {threads} threads"
    for row, packed_row, want in zip(bits[:40], packed[:40], expected[:40]):
        cls, scores = library.classify(row)
        assert np.array_equal(scores, want), tag
        assert cls == int(np.argmax(want)), tag  # ties to the lowest index, as numpy
        packed_cls, packed_scores = library.classify(packed_row, packed=True)
        assert packed_cls == cls and np.array_equal(packed_scores, want), f"{tag} packed"


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
    "group1": dict(seed=8, num_inputs=10, layer_sizes=(20, 6), num_classes=6),
    "one-input": dict(seed=10, num_inputs=1, layer_sizes=(4,), num_classes=2),
    "wide-inputs": dict(seed=11, num_inputs=131, layer_sizes=(60, 40), num_classes=8),
    "one-layer-opt": dict(seed=12, num_inputs=6, layer_sizes=(9,), num_classes=3, passes=OPT),
    "deep": dict(seed=13, num_inputs=12, layer_sizes=(16,) * 10, num_classes=2),
    "big-group": dict(seed=14, num_inputs=40, layer_sizes=(300, 600), num_classes=2),
    # 30 classes of 5 bits: 3-bit counters, 21 classes per transposed score tile -> 2 tiles.
    "many-classes": dict(seed=15, num_inputs=20, layer_sizes=(80, 150), num_classes=30),
    # 70 one-bit classes: 64 classes in the first tile (all eight 8-class score steps).
    "one-bit-classes": dict(seed=16, num_inputs=20, layer_sizes=(80, 70), num_classes=70),
}


@pytest.mark.parametrize("simd", RUNNABLE_SIMD)
@pytest.mark.parametrize("case", sorted(CASES))
def test_random_nets_match_reference(case, simd, tmp_path):
    options = dict(CASES[case])
    graph = make_graph(**options)
    library = build(graph, tmp_path, simd)
    for count in SAMPLE_COUNTS:
        bits = random_input_bits(options["seed"] * 1000 + count, count, graph.graph["num_inputs"])
        assert_matches_reference(library, graph, bits, f"{case}, {simd}, N={count}")


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
def test_unlayered_dag_with_constants_and_generic_tables(seed, tmp_path):
    """Gates read gates of the same `layer`, constants and inputs; wide random tables go
    through the generic lookup kernel; outputs read inputs and constants directly."""
    graph = random_dag(seed)
    bits = random_input_bits(seed, 300, 9)
    assert any(k.generic for k in plan(graph).kernels)
    for simd in RUNNABLE_SIMD:
        assert_matches_reference(build(graph, tmp_path / simd, simd), graph, bits, simd)


@pytest.fixture(scope="module")
def trained_path(tmp_path_factory):
    """A small DLGN trained on digits, with its thermometer encoder."""
    path = tmp_path_factory.mktemp("trained") / "digits.pt"
    subprocess.run([sys.executable, "-m", "lgn_train", "--dataset", "digits", "--layers",
                    "300,200", "--epochs", "15", "--thresholds", "3", "-q", "-o", str(path)],
                   check=True, cwd=ROOT)
    return path


@pytest.fixture(scope="module")
def trained_model(trained_path):
    return load_model(trained_path)


def test_trained_model_matches_reference(trained_model, tmp_path):
    """Every simd mode, the one-sample API and the C encoder on raw digits features."""
    from lgn_train.data import load_dataset

    data = load_dataset("digits", seed=trained_model.meta.get("split_seed", 0))
    features = np.asarray(data.test_features, dtype=np.float32)
    bits = trained_model.encoder.encode(features)
    for passes in ([], OPT):
        graph = run_pipeline(ir.from_model(trained_model), passes)[0] if passes else \
            ir.from_model(trained_model)
        expected = evaluate.scores(graph, bits)
        for simd in RUNNABLE_SIMD:
            library = build(graph, tmp_path / f"{simd}{len(passes)}", simd)
            assert_matches_reference(library, graph, bits, simd)
            assert np.array_equal(library.encode(features), bits)
            assert np.array_equal(library.scores_features(features), expected), simd


@pytest.mark.parametrize("simd", RUNNABLE_SIMD)
def test_sanitizers_find_nothing(simd, tmp_path):
    """ASan + UBSan over the batch, one-sample and encoder paths (a deep net with generic
    tables, constants and more than one block of samples)."""
    import torch

    raw = random_model_dict(40, num_inputs=30, layer_sizes=(50, 40, 24), num_classes=4,
                            arity=3)
    raw["config"]["encoder"] = {"type": "thermometer", "num_features": 10, "num_thresholds": 3}
    raw["state_dict"]["encoder.thresholds"] = torch.linspace(-1, 1, 30).reshape(10, 3)
    model = _validate(raw)
    graph = ir.from_model(model)
    features = np.random.default_rng(40).normal(size=(700, 10)).astype(np.float32)
    bits = model.encoder.encode(features)
    c_file = write_files(graph, tmp_path, simd)
    exe = tmp_path / "run"
    # ASan cannot be preloaded into Python: a C driver calls each API on stdin's samples.
    (tmp_path / "driver.c").write_text(DRIVER.replace("NET", "random_net").replace(
        "UPPER", "RANDOM_NET"))
    from lgn_compile.verify.c_build import SIMD_CFLAGS
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", *SANITIZE,
                    *SIMD_CFLAGS[simd], "-I", str(tmp_path), "-o", str(exe),
                    str(tmp_path / "driver.c"), str(c_file)], check=True)
    result = subprocess.run([str(exe), str(len(features))], input=features.tobytes(),
                            capture_output=True, check=True)
    assert not result.stderr, result.stderr.decode()
    out = np.frombuffer(result.stdout, dtype=np.uint32).reshape(3, len(features), 4)
    expected = evaluate.scores(graph, bits)
    for got in out:
        assert np.array_equal(got, expected)


DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include "NET.h"
/* argv[1] samples of float features on stdin -> scores of the three paths on stdout. */
int main(int argc, char **argv)
{
    size_t n = (size_t)strtoul(argv[argc - 1], NULL, 10), i;
    float *features = malloc(n * UPPER_NUM_FEATURES * sizeof *features);
    uint8_t *bits = malloc(n * UPPER_NUM_INPUTS);
    uint32_t *scores = malloc(n * UPPER_NUM_CLASSES * sizeof *scores);
    uint64_t *spare = malloc((UPPER_WORK_WORDS + 1) * sizeof *spare);
    uint64_t *work = spare + ((uintptr_t)spare % 64 == 0); /* never 64-byte aligned */
    uint32_t one[UPPER_CLASSIFY_WORDS];

    if (fread(features, sizeof *features * UPPER_NUM_FEATURES, n, stdin) != n)
        return 1;
    for (i = 0; i < n; ++i)
        NET_encode(features + i * UPPER_NUM_FEATURES, bits + i * UPPER_NUM_INPUTS);
    NET_scores(bits, n, scores, work);
    fwrite(scores, sizeof *scores * UPPER_NUM_CLASSES, n, stdout);
    NET_scores_features(features, n, scores, work);
    fwrite(scores, sizeof *scores * UPPER_NUM_CLASSES, n, stdout);
    for (i = 0; i < n; ++i)
        NET_classify(bits + i * UPPER_NUM_INPUTS, scores + i * UPPER_NUM_CLASSES, one);
    fwrite(scores, sizeof *scores * UPPER_NUM_CLASSES, n, stdout);
    free(features), free(bits), free(scores), free(spare);
    return 0;
}
"""


def test_nonzero_input_bytes_count_as_one(tmp_path):
    graph = make_graph(seed=22, num_inputs=19, layer_sizes=(16, 8), num_classes=2)
    library = build(graph, tmp_path)
    bits = random_input_bits(22, 170, 19)
    for factor in (2, 16, 128, 200):
        fuzzy = bits * np.uint8(factor)
        assert np.array_equal(library.scores(fuzzy), library.scores(bits)), factor
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
        assert_matches_reference(build(g, tmp_path / tag), graph, bits, tag)
    assert ir.stats(g)["gates"] == 0  # everything folded: outputs read x and constants only


def test_every_output_constant_in_every_mode(tmp_path):
    """No output bit left to count at run time: the scores are the compile-time bases
    (and the inlined counter's reads of the padded output table stay in bounds)."""
    import torch

    raw = random_model_dict(30, num_inputs=9, layer_sizes=(20, 12), num_classes=3)
    raw["discrete"]["tables"][1][:] = torch.tensor([1, 1, 1, 1], dtype=torch.uint8)
    raw["discrete"]["tables"][1][::3] = torch.tensor([0, 0, 0, 0], dtype=torch.uint8)
    graph = run_pipeline(ir.from_model(_validate(raw)), OPT)[0]
    assert not any(plan(graph).groups)
    bits = random_input_bits(30, 70, 9)
    for simd in RUNNABLE_SIMD:
        assert_matches_reference(build(graph, tmp_path / simd, simd), graph, bits, simd)


def test_partly_constant_classes(tmp_path):
    """Classes whose output bits are partly constant (counted at compile time, the rest at
    run time), over several passes of samples, in every mode and the one-sample path."""
    import torch

    raw = random_model_dict(28, num_inputs=24, layer_sizes=(60, 48), num_classes=3)
    tables = raw["discrete"]["tables"][1]
    tables[0::4] = torch.tensor([1, 1, 1, 1], dtype=torch.uint8)  # TRUE
    tables[1::4] = torch.tensor([0, 0, 0, 0], dtype=torch.uint8)  # FALSE
    graph = run_pipeline(ir.from_model(_validate(raw)), OPT)[0]
    p = plan(graph)
    assert all(p.score_base) and all(p.groups)  # 4 constant 1s per class, and live bits
    bits = random_input_bits(28, 1100, 24)
    for simd in RUNNABLE_SIMD:
        library = build(graph, tmp_path / simd, simd)
        assert_matches_reference(library, graph, bits, simd)
        run = library.batch_runner(bits)  # the benchmarks' path: buffers allocated once
        assert np.array_equal(run(), evaluate.scores(graph, bits)) and run() is run(), simd


def test_strict_warnings_and_pedantic_c99(tmp_path):
    """Beyond -Wall -Wextra -Werror: pedantic C99, conversions, shadowing, -O0/-O3, and a
    compiler without vector extensions (no __GNUC__) still gets 64-bit words."""
    graph = random_dag(5)
    strict = ("-pedantic-errors", "-Wconversion", "-Wshadow", "-Wstrict-prototypes",
              "-Wmissing-prototypes", "-Wcast-qual", "-Wundef")
    bits = random_input_bits(24, 300, 9)
    for simd in RUNNABLE_SIMD:
        for flags, tag in ((strict, "strict"), (("-O0",), "o0"), (("-O3",), "o3")):
            library = build(graph, tmp_path / f"{simd}-{tag}", simd, extra_flags=flags)
            assert_matches_reference(library, graph, bits, f"{simd} {tag}")
    library = build(graph, tmp_path / "nognu", "avx2", extra_flags=("-U__GNUC__",))
    assert_matches_reference(library, graph, bits, "no vector extensions")


def test_code_size_does_not_grow_with_gates():
    """The gates are data: a 10x larger net has the same code lines, more array lines."""
    small = emit_c(make_graph(seed=25, num_inputs=20, layer_sizes=(100, 60), num_classes=4))
    large = emit_c(make_graph(seed=25, num_inputs=20, layer_sizes=(1000, 600), num_classes=4))

    def code_lines(source):  # all but the lines of array initializers
        return [line for line in source.splitlines()
                if not re.match(r"\s*([\d, ]+|\{ \d+, \d+ \}.*|UINT64_C.*),?$", line)]

    small_code, large_code = code_lines(small["random_net.c"]), code_lines(large["random_net.c"])
    assert abs(len(large_code) - len(small_code)) <= 25  # kernels used may differ a little
    def data_lines(source):
        return len(source.splitlines()) - len(code_lines(source))

    assert data_lines(large["random_net.c"]) > 3 * data_lines(small["random_net.c"])
    source = large["random_net.c"]
    assert "malloc" not in source
    assert not re.search(r"^static (?!const|void|int|uint64_t|unsigned|lgn_word|LGN_INLINE|inline)", source, re.M)


def test_slots_are_reused_once_dead():
    graph = make_graph(seed=26, num_inputs=70, layer_sizes=(90,) * 8, num_classes=5)
    p = plan(graph)
    assert p.num_slots < 70 + len(p.gates) / 2  # far fewer slots than values
    assert p.num_slots == max(peak_live_values(graph, p), 128)  # 128: two 64-input tiles
    in_place = sum(p.slot[n] in {p.slot[op] for op in ir.operands(graph, n)} for n in p.gates)
    assert in_place > len(p.gates) / 2  # last readers overwrite the operand they just read
    header = emit_c(graph)["random_net.h"]
    assert f"#define RANDOM_NET_NUM_SLOTS {p.num_slots}\n" in header
    # No value is overwritten while a later gate still reads it (checked on the plan).
    holder = {}
    for node in list(range(70)) + p.gates:
        for op in ir.operands(graph, node):
            assert holder[p.slot[op]] == op, f"slot of {op} clobbered before {node}"
        holder[p.slot[node]] = node
    for out in ir.outputs(graph):
        driver = ir.operands(graph, out)[0]
        assert holder[p.slot[driver]] == driver, f"output driver {driver} clobbered"


def peak_live_values(graph, p):
    """The most values alive at once in the plan's gate order (a value lives from its gate
    until its last reader; output drivers to the end): the fewest slots that order needs."""
    readers = Counter(op for n in p.gates for op in ir.operands(graph, n))
    keep = {ir.operands(graph, out)[0] for out in ir.outputs(graph)}
    live = {i for i in range(graph.graph["num_inputs"]) if readers[i] or i in keep}
    peak = len(live)
    for node in p.gates:
        for op in ir.operands(graph, node):
            readers[op] -= 1
            if readers[op] == 0 and op not in keep:
                live.discard(op)
        live.add(node)
        peak = max(peak, len(live))
        if readers[node] == 0 and node not in keep:
            live.discard(node)
    return peak


def test_emission_is_deterministic():
    options = dict(seed=26, num_inputs=10, layer_sizes=(30, 20), num_classes=4, arity=3)
    assert emit_c(make_graph(**options, passes=OPT)) == emit_c(make_graph(**options, passes=OPT))
    with pytest.raises(ValueError, match="simd"):
        emit_c(make_graph(**options), simd="sse")


def test_mutated_kernel_is_caught(tmp_path):
    """The differential check bites: make XOR compute XNOR (the batch kernel's expression
    and the tables of the one-sample program's XOR gates) and rebuild."""
    graph = make_graph(seed=27, num_inputs=12, layer_sizes=(60, 40), num_classes=4)
    bits = random_input_bits(27, 130, 12)
    c_file = write_files(graph, tmp_path)
    good = CLibrary(build_shared_library(c_file, tmp_path / "libgood.so"), "random_net", 12, 4)
    assert np.array_equal(good.scores(bits), evaluate.scores(graph, bits))
    source = c_file.read_text()
    assert "= o0 ^ o1;" in source
    head, pairs, tail = re.split(r"(?<=_pairs\[\] = \{\n)(.*?)(?=\n\};)", source, flags=re.S)
    words = [int(w) for w in re.findall(r"\d+", pairs)]
    assert any(w & 15 == 6 for w in words)  # table in the low 4 bits (lgn_pairs)
    source = head + ", ".join(str(w ^ 15 if w & 15 == 6 else w) for w in words) + "," + tail
    c_file.write_text(source.replace("= o0 ^ o1;", "= ~(o0 ^ o1);"))
    bad = CLibrary(build_shared_library(c_file, tmp_path / "libbad.so"), "random_net", 12, 4)
    assert not np.array_equal(bad.scores(bits), evaluate.scores(graph, bits))
    assert not all(np.array_equal(bad.classify(row)[1], want)
                   for row, want in zip(bits, evaluate.scores(graph, bits)))


def test_cli_build_writes_library(tmp_path, trained_path, trained_model):
    from lgn_compile.cli import main

    out = tmp_path / "out"
    assert main([str(trained_path), "-t", "c", "--build", "--simd", "u64", "-o",
                 str(out), "-q"]) == 0
    name = trained_model.name
    library = CLibrary(out / f"lib{name}.so", name, trained_model.num_inputs,
                       trained_model.num_classes)
    graph = ir.from_model(trained_model)
    bits = random_input_bits(3, 100, trained_model.num_inputs)
    assert np.array_equal(library.scores(bits), evaluate.scores(graph, bits))
    assert "&& (0)" in (out / f"{name}.h").read_text()  # --simd u64: no vector widths


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64", "aarch64", "arm64"),
                    reason="128-bit words need SSE2 or NEON")
def test_v128_builds_128_bit_words_without_arch_flags(tmp_path):
    """--simd v128 needs no -m flags on x86-64 (SSE2) or ARM64 (NEON): the build's work
    buffer is two 64-bit words per slot."""
    graph = make_graph(seed=31, num_inputs=20, layer_sizes=(40, 30), num_classes=3)
    library = build(graph, tmp_path, "v128")
    assert library._work_words == plan(graph).num_slots * 2 + 7
    assert_matches_reference(library, graph, random_input_bits(31, 300, 20), "v128")


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
    with pytest.raises(LgnError, match="other_scores"):
        CLibrary(library.path, "other", 6, 2)
    with pytest.raises(ValueError, match=r"\[N, 6\]"):
        library.scores(np.zeros((3, 5), dtype=np.uint8))
    assert library.scores(np.zeros((0, 6), dtype=np.uint8)).shape == (0, 2)


def test_header_states_the_encoders_input_units():
    """A new user feeding [0, 1] features to a model trained on 0..255 pixels gets ~11 %
    and no error: the header says which units the thresholds are in."""
    import torch

    raw = random_model_dict(41, num_inputs=12, layer_sizes=(10, 4), num_classes=2)
    plain = emit_c(ir.from_model(_validate(raw)))["random_net.h"]
    raw["config"]["encoder"] = {"type": "thermometer", "num_features": 4, "num_thresholds": 3}
    raw["state_dict"]["encoder.thresholds"] = torch.linspace(25.5, 229.5, 12).reshape(4, 3)
    header = emit_c(ir.from_model(_validate(raw)))["random_net.h"]
    assert "Input units" not in plain
    assert "here they span 25.5 .. 229.5" in header and "[0, 1]" in header
