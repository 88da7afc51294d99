"""templates/lgn_runtime.h on its own: the fixed C runtime that every emitted `<name>.c`
inlines, compiled strictly (C99, -pedantic, -Werror) for every word width this machine
runs and checked function by function against numpy (tests/c_runtime_check.c is the
driver): input packing from bytes and packed bits (every tail, odd sample counts),
the 64x64 transpose, the carry-save popcount, score extraction, the lookup-table mux,
the threaded slicer, the one-sample interpreter and the 2-input gate program with
its masked scores. Mutants of the header fail the
checks; two models' emitted C link into one program."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from lgn_compile import evaluate, ir
from lgn_compile.backends.c import RUNTIME, emit_c, encode_pairs, mask_entries, runtime_source
from lgn_compile.model_file import _validate
from lgn_compile.random_net import random_input_bits, random_model_dict
from lgn_compile.verify.c_build import (
    CLibrary,
    build_shared_library,
    pack_inputs,
    simd_supported,
)

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")

CHECK = Path(__file__).resolve().parent / "c_runtime_check.c"
STRICT = ("-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-DLGN_THREADS", "-pthread")
PACK, TRANSPOSE, POPCOUNT, COUNT, LOOKUP, SLICES, CLASSIFY, CONFIG, PAIRS = range(1, 10)
# (word bits, counter bits, slot bits, gcc flags): every width, both slot types, counters
# that hold a few classes per 64-bit tile row or one; 128 is SSE2 on x86-64 (else the
# generic vector path), 256 without -mavx2 the generic vector path with scalar scores.
CONFIGS = [(64, 5, 16, ()), (64, 11, 32, ()), (128, 7, 16, ()), (256, 4, 16, ())]
if simd_supported("avx2"):
    CONFIGS.append((256, 9, 32, ("-mavx2",)))
if simd_supported("avx512"):
    CONFIGS.append((512, 6, 32, ("-mavx512f", "-mavx512bw")))


def compile_check(directory: Path, word_bits: int, count_bits: int, slot_bits: int,
                  flags=(), header: str | None = None, opt: str = "-O2") -> Path:
    """The check program built against the runtime (or against `header`, its text)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / RUNTIME).write_text(runtime_source() if header is None else header)
    exe = directory / "check"
    subprocess.run(["gcc", *STRICT, opt, *flags, f"-DLGN_WORD_BITS={word_bits}",
                    f"-DLGN_COUNT_BITS={count_bits}", f"-DLGN_SLOT_BITS={slot_bits}",
                    "-I", str(directory), "-o", str(exe), str(CHECK)], check=True)
    return exe


@pytest.fixture(scope="module", params=CONFIGS, ids=lambda c: f"w{c[0]}-c{c[1]}-s{c[2]}"
                + "".join(c[3]))
def runtime(request, tmp_path_factory):
    exe = compile_check(tmp_path_factory.mktemp("runtime"), *request.param)
    return Runtime(exe, *request.param[:3])


class Runtime:
    """The built check program: queue jobs, then `run()` returns their results in order."""

    def __init__(self, exe: Path, word_bits: int, count_bits: int, slot_bits: int):
        self.exe, self.word_bits, self.count_bits = exe, word_bits, count_bits
        self.lanes, self.slot_bits = word_bits // 64, slot_bits
        self.tile_classes = 64 // count_bits
        self.jobs: list[tuple[bytes, int, type]] = []

    def job(self, op: int, *numbers, data: bytes = b"", words: int = 0, dtype=np.uint64):
        """Queue `op` with its uint64 parameters (ints or arrays) and raw bytes; its result
        is `words` items of `dtype`."""
        parts = [np.asarray(n, dtype=np.uint64).ravel().tobytes() for n in (op, *numbers)]
        self.jobs.append((b"".join(parts) + data, words, dtype))

    def run(self) -> list[np.ndarray]:
        stdin = b"".join(data for data, _, _ in self.jobs)
        out = subprocess.run([str(self.exe)], input=stdin, capture_output=True, check=True,
                             timeout=120).stdout
        results, at = [], 0
        for _, words, dtype in self.jobs:
            size = words * np.dtype(dtype).itemsize
            results.append(np.frombuffer(out[at:at + size], dtype=dtype))
            at += size
        assert at == len(out), f"the check program wrote {len(out)} bytes, expected {at}"
        self.jobs = []
        return results

    def words(self, planes: np.ndarray) -> np.ndarray:
        """Bit planes [n, word_bits] (sample s at lane s // 64, bit s % 64) -> uint64 [n, lanes]."""
        packed = np.ascontiguousarray(np.packbits(planes.astype(np.uint8), axis=1,
                                                  bitorder="little"))
        return packed.reshape(len(planes), self.lanes, 8).view("<u8").reshape(-1, self.lanes)

    def planes(self, words: np.ndarray) -> np.ndarray:
        """The inverse of `words`."""
        data = np.ascontiguousarray(words, dtype="<u8").reshape(-1, self.lanes).view(np.uint8)
        return np.unpackbits(data, axis=1, bitorder="little").astype(bool)


def test_configuration_is_what_was_asked(runtime):
    runtime.job(CONFIG, words=3)
    (config,) = runtime.run()
    assert config.tolist() == [runtime.word_bits, runtime.count_bits, runtime.slot_bits]


def test_packing_of_bytes_and_packed_bits(runtime):
    """Every input tail (1..200 inputs, around the 8-, 16-, 32- and 64-input steps) and
    sample counts from one to a full word; rows past the count repeat the last sample;
    any nonzero byte is a 1; packed bits past the last input are ignored."""
    rng = np.random.default_rng(runtime.word_bits + runtime.count_bits)
    w = runtime.word_bits
    cases = []
    for num_inputs in (1, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 100, 128, 200):
        for count in sorted({1, 3, 63, 64, 65, w - 1, w} & set(range(1, w + 1))):
            values = rng.choice(np.array([0, 0, 0, 1, 2, 128, 255], np.uint8),
                                size=(count, num_inputs))
            bits = values != 0
            packed = np.packbits(bits, axis=1, bitorder="little")
            if num_inputs % 8:  # garbage in the last byte's unused bits
                packed[:, -1] |= rng.integers(0, 256, count, dtype=np.uint8) & np.uint8(
                    0xFF << (num_inputs % 8) & 0xFF)
            full = bits[np.minimum(np.arange(w), count - 1)]
            expected = runtime.words(full.T)
            runtime.job(PACK, 0, num_inputs, count, data=values.tobytes(),
                        words=num_inputs * runtime.lanes)
            runtime.job(PACK, 1, num_inputs, count, data=packed.tobytes(),
                        words=num_inputs * runtime.lanes)
            cases.append((num_inputs, count, expected))
    results = runtime.run()
    for (num_inputs, count, expected), from_bytes, from_packed in zip(
            cases, results[0::2], results[1::2]):
        assert np.array_equal(from_bytes.reshape(expected.shape), expected), \
            f"bytes, {num_inputs} inputs, {count} samples"
        assert np.array_equal(from_packed.reshape(expected.shape), expected), \
            f"packed, {num_inputs} inputs, {count} samples"


def test_transpose_of_every_lane(runtime):
    rng = np.random.default_rng(1)
    matrices = [rng.integers(0, 2, (64, runtime.lanes, 64)).astype(bool) for _ in range(4)]
    matrices.append(np.eye(64, dtype=bool)[:, None, :].repeat(runtime.lanes, axis=1))
    matrices.append(np.triu(np.ones((64, 64), bool))[:, None, :].repeat(runtime.lanes, axis=1))
    for bits in matrices:  # bits[row, lane, column]
        words = np.packbits(bits, axis=2, bitorder="little").view("<u8")
        runtime.job(TRANSPOSE, words, words=64 * runtime.lanes)
    for bits, got in zip(matrices, runtime.run()):
        want = np.packbits(bits.transpose(2, 1, 0), axis=2, bitorder="little").copy().view("<u8")
        assert np.array_equal(got, want.ravel())


def random_planes(runtime, rng, num_slots):
    planes = rng.integers(0, 2, (num_slots, runtime.word_bits)).astype(bool)
    planes[0], planes[1] = True, False  # all-ones and all-zeros planes too
    return planes


def test_popcount_of_groups_around_the_adder_tree_blocks(runtime):
    """Groups of 0 .. 2**count_bits - 1 planes (repeats allowed) around the 8- and 16-plane
    blocks of the carry-save tree, counted in count_bits planes."""
    rng = np.random.default_rng(2)
    num_slots = 40
    planes = random_planes(runtime, rng, num_slots)
    largest = 2 ** runtime.count_bits - 1
    sizes = sorted({0, 1, 7, 8, 9, 15, 16, 17, 24, 31, 33, 47, 100, largest} & set(
        range(largest + 1)))
    groups = []
    for size in sizes:
        group = rng.integers(0, num_slots, size)
        if size == largest:
            group[:] = 0  # the all-ones plane: the largest count on every sample
        groups.append(group)
        runtime.job(POPCOUNT, num_slots, size, runtime.words(planes), group,
                    words=runtime.count_bits * runtime.lanes)
    for group, got in zip(groups, runtime.run()):
        counts = planes[group].sum(axis=0)
        want = np.array([(counts >> b) & 1 for b in range(runtime.count_bits)], dtype=bool)
        assert np.array_equal(runtime.planes(got), want), f"group of {len(group)}"


def test_scores_of_classes_across_tiles(runtime):
    """Class counts plus their constant bases, for class numbers around the classes one
    transposed tile holds, and sample counts from one to a full word."""
    rng = np.random.default_rng(3)
    num_slots = 50
    planes = random_planes(runtime, rng, num_slots)
    tile = runtime.tile_classes
    cases = []
    for num_classes in sorted({1, 2, tile - 1, tile, tile + 1, 3 * tile + 2} - {0}):
        for count in sorted({1, 37, runtime.word_bits - 1, runtime.word_bits} - {0}):
            sizes = rng.integers(0, min(2 ** runtime.count_bits, 70), num_classes)
            starts = np.concatenate([[0], np.cumsum(sizes)])
            outputs = rng.integers(0, num_slots, int(starts[-1]))
            base = rng.integers(0, 100_000, num_classes)
            runtime.job(COUNT, num_slots, num_classes, count, runtime.words(planes), starts,
                        outputs, base, words=count * num_classes, dtype=np.uint32)
            want = np.array([planes[outputs[starts[c]:starts[c + 1]], :count].sum(axis=0)
                             + base[c] for c in range(num_classes)]).T
            cases.append((num_classes, count, want))
    for (num_classes, count, want), got in zip(cases, runtime.run()):
        assert np.array_equal(got.reshape(count, num_classes), want), \
            f"{num_classes} classes, {count} samples"


def test_lookup_table_mux_of_every_arity(runtime):
    rng = np.random.default_rng(4)
    num_slots = 12
    planes = random_planes(runtime, rng, num_slots)
    cases = []
    for arity in range(7):
        for _ in range(3):
            table = int(rng.integers(0, 2 ** 63)) * 2 + int(rng.integers(0, 2))
            table &= (1 << (1 << arity)) - 1
            ops = rng.integers(0, num_slots, arity)
            runtime.job(LOOKUP, table, arity, num_slots, runtime.words(planes), ops,
                        words=runtime.lanes)
            index = sum((planes[op].astype(np.uint64) << np.uint64(k)
                         for k, op in enumerate(ops)), np.zeros(runtime.word_bits, np.uint64))
            cases.append((arity, (np.uint64(table) >> index) & np.uint64(1)))
    for (arity, want), got in zip(cases, runtime.run()):
        assert np.array_equal(runtime.planes(got)[0], np.asarray(want, bool)), f"arity {arity}"


def test_slices_cover_every_sample_once(runtime):
    """lgn_run_slices hands whole words of samples to at most LGN_MAX_THREADS slices (more
    threads asked for are capped), each with its own work area; every sample's scores are
    written by exactly one slice, bytes and packed alike."""
    rng = np.random.default_rng(5)
    w, sample_bytes, num_classes, work_words = runtime.word_bits, 3, 4, 5
    cases = []
    for num_samples in (0, 1, w - 1, w + 1, 5 * w + 3, 70 * w):
        for threads in (0, 1, 3, 64, 100):
            packed = int(num_samples % 2)
            data = rng.integers(0, 256, (num_samples, sample_bytes), dtype=np.uint8)
            runtime.job(SLICES, packed, sample_bytes, num_classes, num_samples, threads,
                        work_words, data=data.tobytes(), words=num_samples * num_classes + 128,
                        dtype=np.uint32)
            cases.append((num_samples, threads, packed, data))
    for (num_samples, threads, packed, data), got in zip(cases, runtime.run()):
        scores, calls = got[:-128], got[-128:].view(np.uint64)
        want = (1000 * data[:, np.arange(num_classes) % sample_bytes].astype(np.int64)
                + 10 * np.arange(num_classes) + packed)
        assert np.array_equal(scores.reshape(num_samples, num_classes), want)
        threads = min(max(threads, 1), 64)
        words = -(-num_samples // w)
        per_slice = -(-words // threads) * w
        used = -(-num_samples // per_slice) if num_samples else 0
        assert calls.tolist() == [1] * used + [0] * (64 - used), (num_samples, threads)


def random_net(rng, num_inputs):
    """A net for the interpreter: every kernel shape (2- and 1-input tables, a wide shared
    table, generic lookups of arity 3 and 6), two constant slots after the inputs."""
    kernels = [(2, 0, int(rng.integers(0, 16))), (1, 0, int(rng.integers(0, 4))),
               (3, 0, int(rng.integers(0, 256))), (3, 1, 0), (6, 1, 0), (2, 1, 0)]
    consts = [(num_inputs, 0), (num_inputs + 1, 1)]
    slots, runs, wiring, luts, gates = num_inputs + 2, [], [], [], []
    for _ in range(int(rng.integers(6, 14))):
        kernel = int(rng.integers(0, len(kernels)))
        arity, generic, table = kernels[kernel]
        count = int(rng.integers(0, 9))
        runs.append((kernel, count))
        for _ in range(count):
            ops = rng.integers(0, slots, arity).tolist()
            lut = int(rng.integers(0, 2 ** 63)) & ((1 << (1 << arity)) - 1) if generic else table
            luts += [lut] if generic else []
            wiring += [slots, *ops]
            gates.append((slots, ops, lut))
            slots += 1
    return kernels, consts, slots, runs, wiring, luts, gates


def test_one_sample_interpreter(runtime):
    """Gates, constant slots, class scores and argmax of one sample, from bytes and from
    packed bits with garbage past the last input, against a Python walk of the same net."""
    rng = np.random.default_rng(6)
    cases = []
    for trial in range(12):
        num_inputs = int(rng.integers(1, 40))
        kernels, consts, slots, runs, wiring, luts, gates = random_net(rng, num_inputs)
        num_classes = int(rng.integers(1, 6))
        sizes = rng.integers(0, 20, num_classes)
        starts = np.concatenate([[0], np.cumsum(sizes)])
        outputs = rng.integers(0, slots, int(starts[-1]))
        base = rng.integers(0, 3, num_classes)
        values = rng.choice(np.array([0, 0, 1, 7], np.uint8), num_inputs)
        value = list(values != 0) + [0] * (slots - num_inputs)
        for slot, v in consts:
            value[slot] = v
        for slot, ops, table in gates:
            value[slot] = (table >> sum(int(value[op]) << k for k, op in enumerate(ops))) & 1
        scores = [int(base[c]) + sum(int(value[s]) for s in outputs[starts[c]:starts[c + 1]])
                  for c in range(num_classes)]
        mask_words, masks, mask_starts = mask_entries(
            [outputs[starts[c]:starts[c + 1]].tolist() for c in range(num_classes)])
        packed = np.packbits(values != 0, bitorder="little")
        if num_inputs % 8:
            packed[-1] |= np.uint8(0xFF << (num_inputs % 8) & 0xFF)
        for is_packed, sample in ((0, values), (1, packed)):
            runtime.job(CLASSIFY, slots, is_packed, num_inputs, len(kernels),
                        np.array(kernels, np.uint64), len(runs), np.array(runs, np.uint64),
                        len(wiring), np.array(wiring, np.uint64), len(luts),
                        np.array(luts, np.uint64), num_classes, mask_starts, mask_words,
                        masks, base,
                        len(consts), np.array(consts, np.uint64), data=sample.tobytes(),
                        words=num_classes + 1, dtype=np.uint32)
            cases.append((trial, is_packed, scores + [int(np.argmax(scores))]))
    for (trial, is_packed, want), got in zip(cases, runtime.run()):
        assert got.tolist() == want, f"net {trial}, packed {is_packed}"


def test_pair_program_and_mask_scores(runtime):
    """lgn_pairs on programs of 0-, 1- and 2-input gates from encode_pairs (gates reading
    fixed bits, finished words and the word being filled; 0 to 100 gates: partial last
    words) and lgn_mask_scores on output bits with repeats, against a Python walk."""
    rng = np.random.default_rng(7)
    cases = []
    for trial in range(16):
        num_fixed = int(rng.integers(1, 70))
        fixed = rng.integers(0, 2, num_fixed).tolist()
        gates, value = [], list(fixed)
        for i in range(int(rng.integers(0, 100)) if trial else 0):
            arity = int(rng.choice([0, 1, 2, 2, 2]))
            near = max(0, len(value) - 40)  # mostly recent values: the word being filled
            ops = rng.integers(near if rng.random() < 0.7 else 0, len(value), arity).tolist()
            table = int(rng.integers(0, 1 << (1 << arity)))
            gates.append((ops, table))
            value.append((table >> sum(value[op] << k for k, op in enumerate(ops))) & 1)
        program = encode_pairs(num_fixed, gates)
        work = np.zeros(program.num_words, np.uint32)
        for v, bit in enumerate(fixed):
            work[v // 32] |= np.uint32(bit << v % 32)
        num_classes = int(rng.integers(1, 5))
        groups = [rng.integers(0, len(value), int(rng.integers(0, 50))).tolist()
                  for _ in range(num_classes)]
        base = rng.integers(0, 3, num_classes)
        words, masks, starts = mask_entries([[program.position[v] for v in group]
                                             for group in groups])
        runtime.job(PAIRS, len(work), work, len(gates), program.words, program.first_word,
                    num_classes, starts, words, masks, base,
                    words=len(work) + num_classes, dtype=np.uint32)
        scores = [int(base[c]) + sum(value[v] for v in groups[c]) for c in range(num_classes)]
        cases.append((trial, program, value, scores))
    for (trial, program, value, scores), got in zip(cases, runtime.run()):
        bits = [int(got[b // 32] >> (b % 32)) & 1 for b in program.position]
        assert bits == value, f"program {trial}"
        assert got[len(got) - len(scores):].tolist() == scores, f"program {trial}"


# Mutants of the runtime, one line each, that the checks above must catch.
MUTANTS = {
    "transpose mask": ("UINT64_C(0x5555555555555555)", "UINT64_C(0x5555555555555554)"),
    "adder carry": ("*carry = (a & b) | (half & c);", "*carry = (a & b) | (half ^ c);"),
    "byte tail": ("row |= (uint64_t)(bytes[c] != 0) << c;",
                  "row |= (uint64_t)(bytes[c] & 1) << c;"),
    "packed tail": ("row |= (uint64_t)bytes[k] << (8 * k);",
                    "row |= (uint64_t)bytes[k] << (7 * k);"),
    "score base": ("& field) + base[j];", "& field) + base[0];"),
    "sixteens weight": ("lgn_add(counter, 4, sixteens);", "lgn_add(counter, 3, sixteens);"),
    "first slice": ("    if (used)\n        lgn_run_slice(&jobs[0]);", "    (void)used;"),
    "interpreter operand": ("| lgn_get(work, p[2]) << 1)", "| lgn_get(work, p[1]) << 1)"),
    "pair operand": ("b % 32) << 31 >> 30", "a % 32) << 31 >> 30"),
    "pair word": ("        ++out;\n", "        out += 0;\n"),
    "popcount": ("x -= (x >> 1) & 0x55555555u;", "x -= (x >> 1) & 0x55555554u;"),
    "lookup order": ("v[m] = v[2 * m] ^ ((v[2 * m] ^ v[2 * m + 1]) & x);",
                     "v[m] = v[2 * m + 1] ^ ((v[2 * m] ^ v[2 * m + 1]) & x);"),
}
CHECKS = [test_packing_of_bytes_and_packed_bits, test_transpose_of_every_lane,
          test_popcount_of_groups_around_the_adder_tree_blocks,
          test_scores_of_classes_across_tiles, test_lookup_table_mux_of_every_arity,
          test_slices_cover_every_sample_once, test_one_sample_interpreter,
          test_pair_program_and_mask_scores]


@pytest.mark.parametrize("mutant", MUTANTS)
def test_mutants_of_the_runtime_are_caught(mutant, tmp_path):
    old, new = MUTANTS[mutant]
    source = runtime_source()
    assert source.count(old) == 1, mutant
    exe = compile_check(tmp_path, 64, 5, 16, header=source.replace(old, new), opt="-O1")
    runtime = Runtime(exe, 64, 5, 16)
    caught = []
    for check in CHECKS:
        try:
            check(runtime)
        except (AssertionError, subprocess.CalledProcessError):
            caught.append(check.__name__)
        runtime.jobs = []
    assert caught, f"no check caught the mutant {mutant!r}"


def test_two_models_link_into_one_program(tmp_path):
    """Each emitted source carries its own static copy of the runtime, configured for its
    model (64- and 128- or 256-bit words, different counters, arities and class counts):
    both build into one library, and each equals its reference on every entry point."""
    wide = "avx2" if simd_supported("avx2") else "v128"
    graphs = [ir.from_model(_validate(random_model_dict(
        7, num_inputs=70, layer_sizes=(90, 60), num_classes=3, name="first_net"))),
        ir.from_model(_validate(random_model_dict(
            8, num_inputs=130, layer_sizes=(300, 280), num_classes=7, arity=3,
            name="second_net")))]
    sources = []
    for graph, simd in zip(graphs, ("u64", wide)):
        for file, text in emit_c(graph, simd=simd).items():
            (tmp_path / file).write_text(text)
        sources.append(tmp_path / f"{graph.graph['name']}.c")
    library = build_shared_library(sources[0], tmp_path / "libboth.so",
                                   extra_flags=[str(sources[1]), "-pedantic"], simd=wide)
    for graph in graphs:
        lib = CLibrary(library, graph.graph["name"], graph.graph["num_inputs"],
                       graph.graph["num_classes"])
        bits = random_input_bits(9, 300, graph.graph["num_inputs"])
        want = evaluate.scores(graph, bits)
        assert np.array_equal(lib.scores(bits), want)
        assert np.array_equal(lib.scores(pack_inputs(bits), packed=True), want)
        assert np.array_equal(lib.scores(bits, threads=3), want)
        cls, scores = lib.classify(bits[5])
        assert np.array_equal(scores, want[5]) and cls == int(np.argmax(want[5]))
