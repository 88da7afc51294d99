"""Build emitted C with the real gcc and call it through ctypes.

`build_shared_library` compiles `<name>.c` (its `<name>.h` beside it) into a shared
library with the strict flags the C backend promises to pass, plus the instruction-set
flags of a `--simd` mode; `CLibrary` loads it and evaluates input bits through the batch
API on every core (`<name>_scores_mt`) or the one-sample API (`<name>_classify`).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lgn_compile.errors import LgnError

CC = "gcc"
# -DLGN_THREADS: <name>_scores_mt on POSIX threads. Functions and loops aligned to 64
# bytes: where the gate loops landed moved a net's samples/s by up to 20 % from one build
# to the next (same instructions; benchmarks/c_ab.py, a 3-input net with AVX2: 2.8 M
# unaligned, 3.4 M aligned; no net measured slower aligned).
CFLAGS = ("-O2", "-std=c99", "-fPIC", "-shared", "-Wall", "-Wextra", "-Werror",
          "-falign-functions=64", "-falign-loops=64", "-DLGN_THREADS", "-pthread")
# gcc flags per --simd mode: auto targets this machine, the others its instruction set.
SIMD_CFLAGS = {"auto": ("-march=native",), "u64": (), "v128": (), "avx2": ("-mavx2",),
               "avx512": ("-mavx512f", "-mavx512bw")}


def pack_inputs(bits: np.ndarray) -> np.ndarray:
    """Input bits [N, num_inputs] as `<name>_scores_packed` takes them, each sample's bits
    packed eight to a byte (input i at bit i % 8 of byte i / 8). Not bitpack.pack_bits,
    which packs along the batch."""
    return np.packbits(bits, axis=1, bitorder="little")


def available_cores() -> int:
    """The cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def simd_supported(simd: str) -> bool:
    """Whether this machine can run code built for `simd` (x86 flags in /proc/cpuinfo)."""
    needed = {"avx2": {"avx2"}, "avx512": {"avx512f", "avx512bw"}}.get(simd, set())
    if not needed:
        return True
    try:
        return needed <= set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return False


def build_shared_library(c_file: str | os.PathLike, out_path: str | os.PathLike,
                         extra_flags: Sequence[str] = (), timeout: float | None = None,
                         simd: str = "auto") -> Path:
    """Compile `c_file` into the shared library `out_path` with gcc; returns out_path.

    `simd` adds that mode's instruction-set flags; `extra_flags` come after the default
    flags (so e.g. "-O1" overrides "-O2"). Raises LgnError with gcc's first error line
    when the compile fails, and when gcc is missing.
    """
    c_file, out_path = Path(c_file), Path(out_path)
    if not c_file.is_file():
        raise LgnError(f"C source not found: {c_file}")
    compiler = shutil.which(CC)
    if compiler is None:
        raise LgnError(f"{CC} not found on PATH: install gcc (e.g. apt-get install gcc) "
                       "to build the emitted C")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    command = [compiler, *CFLAGS, *SIMD_CFLAGS[simd], *extra_flags, "-I", str(c_file.parent),
               "-o", str(out_path), str(c_file)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                check=False)
    except subprocess.TimeoutExpired as exc:
        raise LgnError(f"{CC} did not finish compiling {c_file} in {timeout} s") from exc
    except OSError as exc:
        raise LgnError(f"cannot run {compiler}: {exc.strerror or exc}") from exc
    if result.returncode != 0:
        raise LgnError(f"{CC} failed on {c_file}: {_first_error(result.stderr)}")
    return out_path


def build_emitted(files: dict, name: str, directory: str | os.PathLike,
                  simd: str = "auto") -> Path:
    """Write the emitted `<name>.c`/`.h` (from a compile's files, still in memory) into
    `directory` and build `lib<name>.so` there; returns its path."""
    directory = Path(directory)
    for suffix in (".c", ".h"):
        (directory / f"{name}{suffix}").write_text(files[f"{name}{suffix}"])
    return build_shared_library(directory / f"{name}.c", directory / f"lib{name}.so", simd=simd)


def _first_error(stderr: str) -> str:
    """gcc's first `error:` line (with -Werror, warnings are errors too), else its first line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if "error:" in line:
            return line
    return lines[0] if lines else "(no message)"


_u64_p = ctypes.POINTER(ctypes.c_uint64)
_u32_p = ctypes.POINTER(ctypes.c_uint32)
_u8_p = ctypes.POINTER(ctypes.c_uint8)
_f32_p = ctypes.POINTER(ctypes.c_float)


class CLibrary:
    """A built model library; `name` is the model name that prefixes its functions.

    The library cannot check that num_inputs/num_classes match what it was compiled for:
    pass the model's values (wrong ones read or write out of bounds). dlopen caches by
    path, so give a rebuilt library a new file name before loading it again.
    """

    def __init__(self, so_path: str | os.PathLike, name: str, num_inputs: int,
                 num_classes: int):
        self.path = Path(so_path)
        self.name = name
        self.num_inputs = num_inputs
        self.num_classes = num_classes
        try:
            self._lib = ctypes.CDLL(str(self.path.resolve()))
        except OSError as exc:
            raise LgnError(f"cannot load shared library {self.path}: {exc}") from exc
        self._scores_mt = self._function("scores_mt", None, [
            _u8_p, ctypes.c_int, ctypes.c_size_t, _u32_p, _u64_p, ctypes.c_uint])
        self._classify = self._function("classify", ctypes.c_int, [_u8_p, _u32_p, _u32_p])
        sizes = {kind: self._function(f"{kind}_words", ctypes.c_size_t, [])()
                 for kind in ("work", "classify")}
        self._work_words, self._classify_words = sizes["work"], sizes["classify"]

    def _function(self, suffix: str, restype, argtypes):
        symbol = f"{self.name}_{suffix}"
        try:
            function = getattr(self._lib, symbol)
        except AttributeError as exc:
            raise LgnError(f"{self.path} has no function {symbol} (built for another "
                           "model name?)") from exc
        function.restype = restype
        function.argtypes = argtypes
        return function

    def scores(self, bits: np.ndarray, packed: bool = False,
               threads: int | None = None) -> np.ndarray:
        """Input bits uint8 [N, num_inputs] -> class scores int64 [N, num_classes] (batch
        API). `packed`: the bits as `pack_inputs` packs them, uint8 [N, ceil(num_inputs / 8)]
        (`<name>_scores_packed`). `threads`: cores to use (default: all this process may
        run on; a library built without -DLGN_THREADS uses one)."""
        return self.batch_runner(bits, packed, threads)().astype(np.int64)

    def batch_runner(self, bits: np.ndarray, packed: bool = False, threads: int | None = 1):
        """A no-argument callable that runs the batch API (`<name>_scores_mt`) on `bits`
        (packed or not, as in `scores`) on `threads` cores (None: all) into buffers
        allocated once, so repeated calls (a benchmark's) time the C code, not numpy's
        allocations; it returns its scores buffer (uint32 [N, num_classes], overwritten by
        each call)."""
        width = -(-self.num_inputs // 8) if packed else None
        bits = self._check_bits(bits, 2, width=width)
        threads = available_cores() if threads is None else threads
        if threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        out = np.zeros((len(bits), self.num_classes), dtype=np.uint32)
        work = np.empty(self._work_words * threads, dtype=np.uint64)
        arguments = (bits.ctypes.data_as(_u8_p), int(packed), len(bits),
                     out.ctypes.data_as(_u32_p), work.ctypes.data_as(_u64_p), threads)

        def run(buffers=(bits, out, work)):  # the buffers live as long as the callable
            self._scores_mt(*arguments)
            return out
        return run

    def scores_features(self, features: np.ndarray) -> np.ndarray:
        """Raw features float32 [N, F] -> class scores int64 [N, num_classes], encoded in C
        (only in libraries of models with an encoder)."""
        function = self._function("scores_features", None,
                                  [_f32_p, ctypes.c_size_t, _u32_p, _u64_p])
        features = self._check_features(features)
        out = np.zeros((len(features), self.num_classes), dtype=np.uint32)
        work = np.empty(self._work_words, dtype=np.uint64)
        function(features.ctypes.data_as(_f32_p), len(features), out.ctypes.data_as(_u32_p),
                 work.ctypes.data_as(_u64_p))
        return out.astype(np.int64)

    def classify(self, bits_row: np.ndarray, packed: bool = False) -> tuple[int, np.ndarray]:
        """One sample's input bits [num_inputs] -> (class index, scores int64 [num_classes]).
        `packed`: its bits as `pack_inputs` packs them (`<name>_classify_packed`)."""
        if packed:
            function = self._function("classify_packed", ctypes.c_int, [_u8_p, _u32_p, _u32_p])
            bits_row = self._check_bits(bits_row, 1, width=-(-self.num_inputs // 8))
        else:
            function, bits_row = self._classify, self._check_bits(bits_row, 1)
        out = np.zeros(self.num_classes, dtype=np.uint32)
        work = np.empty(self._classify_words, dtype=np.uint32)
        cls = function(bits_row.ctypes.data_as(_u8_p), out.ctypes.data_as(_u32_p),
                       work.ctypes.data_as(_u32_p))
        return int(cls), out.astype(np.int64)

    def encode(self, features: np.ndarray) -> np.ndarray:
        """Raw features float32 [N, F] -> input bits uint8 [N, num_inputs] via `<name>_encode`
        (only in libraries of models with an encoder)."""
        encode = self._function("encode", None, [_f32_p, _u8_p])
        features = self._check_features(features)
        bits = np.zeros((len(features), self.num_inputs), dtype=np.uint8)
        for row_in, row_out in zip(features, bits):
            encode(row_in.ctypes.data_as(_f32_p), row_out.ctypes.data_as(_u8_p))
        return bits

    @staticmethod
    def _check_features(features) -> np.ndarray:
        features = np.ascontiguousarray(features, dtype=np.float32)
        if features.ndim != 2:
            raise ValueError(f"expected features of shape [N, F], got {features.shape}")
        return features

    def _check_bits(self, bits, ndim: int, width: int | None = None) -> np.ndarray:
        """uint8, contiguous, of `width` (default num_inputs) per row; else a ValueError."""
        bits = np.ascontiguousarray(bits, dtype=np.uint8)
        width = self.num_inputs if width is None else width
        if bits.ndim != ndim or bits.shape[-1] != width:
            want = f"[N, {width}]" if ndim == 2 else f"[{width}]"
            raise ValueError(f"expected input bits of shape {want}, got {bits.shape}")
        return bits



# --- Cross builds: every C entry point of several nets in one program run under an emulator.

ARM64_CC = "aarch64-linux-gnu-gcc"
ARM64_RUNNER = ("qemu-aarch64",)  # user mode; the program is linked -static
CROSS_PATHS = ("scores", "scores packed", "scores mt", "classify", "classify packed")
CROSS_THREADS = 3

_CROSS_DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
%(includes)s

/* Per net on stdin: uint32 n, then n samples of one byte per input. Per net on stdout, as
 * uint32: the scores [n][classes] of %(paths)s, then the classes [n] the last two return. */
typedef void batch_fn(const uint8_t *, size_t, uint32_t *, uint64_t *);
typedef void batch_mt_fn(const uint8_t *, int, size_t, uint32_t *, uint64_t *, unsigned);
typedef int one_fn(const uint8_t *, uint32_t *, uint32_t *);
struct net {
    batch_fn *scores, *scores_packed;
    batch_mt_fn *scores_mt;
    one_fn *classify, *classify_packed;
    size_t inputs, classes, work_words, classify_words;
};
static const struct net nets[] = {
%(nets)s
};

int main(void)
{
    size_t k, s, i;

    for (k = 0; k < sizeof nets / sizeof nets[0]; ++k) {
        const struct net *net = &nets[k];
        const size_t bytes = (net->inputs + 7) / 8;
        uint32_t n;
        uint8_t *bits, *packed;
        uint32_t *scores, *classes, *one;
        uint64_t *work;

        if (fread(&n, sizeof n, 1, stdin) != 1)
            return 2;
        bits = malloc(n * net->inputs + 1);
        packed = calloc(n * bytes + 1, 1);
        scores = malloc((n * net->classes + 1) * sizeof *scores);
        classes = malloc((2 * (size_t)n + 1) * sizeof *classes);
        one = malloc(net->classify_words * sizeof *one);
        work = malloc(%(threads)d * net->work_words * sizeof *work);
        if (fread(bits, 1, n * net->inputs, stdin) != n * net->inputs)
            return 2;
        for (s = 0; s < n; ++s)
            for (i = 0; i < net->inputs; ++i)
                packed[s * bytes + i / 8] |= (uint8_t)((bits[s * net->inputs + i] != 0) << (i %% 8));
        net->scores(bits, n, scores, work);
        fwrite(scores, sizeof *scores, n * net->classes, stdout);
        net->scores_packed(packed, n, scores, work);
        fwrite(scores, sizeof *scores, n * net->classes, stdout);
        net->scores_mt(bits, 0, n, scores, work, %(threads)d);
        fwrite(scores, sizeof *scores, n * net->classes, stdout);
        for (s = 0; s < n; ++s)
            classes[s] = (uint32_t)net->classify(bits + s * net->inputs,
                                                 scores + s * net->classes, one);
        fwrite(scores, sizeof *scores, n * net->classes, stdout);
        for (s = 0; s < n; ++s)
            classes[n + s] = (uint32_t)net->classify_packed(packed + s * bytes,
                                                            scores + s * net->classes, one);
        fwrite(scores, sizeof *scores, n * net->classes, stdout);
        fwrite(classes, sizeof *classes, 2 * (size_t)n, stdout);
        free(bits), free(packed), free(scores), free(classes), free(one), free(work);
    }
    return 0;
}
"""


def cross_toolchain(cc: str = ARM64_CC, runner: Sequence[str] = ARM64_RUNNER) -> str | None:
    """Why the cross compiler or its emulator cannot be used here, or None when both can."""
    missing = [tool for tool in (cc, runner[0]) if shutil.which(tool) is None]
    return f"{' and '.join(missing)} not installed" if missing else None


def cross_scores(c_files: Sequence[Path], nets: Sequence[tuple[str, int, int]],
                 bits: Sequence[np.ndarray], cc: str = ARM64_CC,
                 runner: Sequence[str] = ARM64_RUNNER, timeout: float = 600,
                 extra_flags: Sequence[str] = ()) -> list[dict[str, np.ndarray]]:
    """Build the emitted C of several nets (`c_files`, each `<name>.h` beside it; `nets`:
    (name, num_inputs, num_classes)) with one driver into a static program for another
    architecture (default ARM64: gcc -O2, threads on; no -m flags, so the word width is
    what the emitted --simd mode gives that target), run it under the emulator on
    `bits[k]` for net k, and return per net {path: scores int64 [N, classes]} for every
    CROSS_PATHS entry, plus "classify class" / "classify packed class" (int64 [N])."""
    build = Path(c_files[0]).parent
    includes = "\n".join(f'#include "{name}.h"' for name, _, _ in nets)
    table = ",\n".join(
        f"    {{{n}_scores, {n}_scores_packed, {n}_scores_mt, {n}_classify, {n}_classify_packed, "
        f"{n.upper()}_NUM_INPUTS, {n.upper()}_NUM_CLASSES, {n.upper()}_WORK_WORDS, "
        f"{n.upper()}_CLASSIFY_WORDS}}" for n, _, _ in nets)
    driver = build / "cross_driver.c"
    driver.write_text(_CROSS_DRIVER % dict(includes=includes, nets=table, threads=CROSS_THREADS,
                                           paths=", ".join(CROSS_PATHS)))
    exe = build / "cross_driver"
    include_dirs = sorted({f"-I{Path(c).parent}" for c in c_files})
    command = [cc, "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", "-static", "-DLGN_THREADS",
               "-pthread", *include_dirs,
               *extra_flags, "-o", str(exe), str(driver), *map(str, c_files)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise LgnError(f"{cc} failed: {_first_error(result.stderr)}")
    stdin = b"".join(np.uint32(len(b)).tobytes() + np.ascontiguousarray(b, np.uint8).tobytes()
                     for b in bits)
    run = subprocess.run([*runner, str(exe)], input=stdin, capture_output=True, timeout=timeout,
                         check=False)
    if run.returncode != 0:
        raise RuntimeError(f"{runner[0]} {exe} exited {run.returncode}: {run.stderr[-500:]!r}")
    out, at, results = np.frombuffer(run.stdout, dtype=np.uint32), 0, []
    for (_, _, classes), rows in zip(nets, bits):
        n, found = len(rows), {}
        for path in CROSS_PATHS:
            found[path] = out[at:at + n * classes].reshape(n, classes).astype(np.int64)
            at += n * classes
        for path in ("classify class", "classify packed class"):
            found[path], at = out[at:at + n].astype(np.int64), at + n
        results.append(found)
    assert at == len(out), f"driver wrote {len(out)} words, expected {at}"
    return results
