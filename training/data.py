"""Datasets and input encoders.

A dataset is a fixed train/test split of raw features (float32 [N, F]) and labels (int64).
Loaders: scikit-learn's bundled 8x8 digits (no files), MNIST and Fashion-MNIST from the
standard IDX files (gzipped or not) and CIFAR-10 from its python batches, each from a
directory the user gives; a missing or corrupt file is an LgnError naming it.
A `ThermometerEncoder` turns raw features into input bits exactly as the model file's
encoder does (`lgn_compile.model_file.Encoder.encode`, which it calls): bit `f*T + t` is
set when raw feature f > threshold[f, t].
"""

from __future__ import annotations

import gzip
import io
import math
import os
import pickle
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lgn_compile.errors import LgnError
from lgn_compile.model_file import Encoder, open_regular_file

DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10")
IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST = ("test_batch",)
ENCODER_METHODS = ("uniform", "quantile")
# Bounds on what a dataset file may make us allocate: an IDX file's data (10x MNIST's
# training images), and a CIFAR-10 python batch file (a real one is 31 MB).
MAX_IDX_BYTES = 1 << 30
MAX_CIFAR_BATCH_BYTES = 256 << 20
DEFLATE_MAX_RATIO = 1032  # deflate cannot expand data by more than this


@dataclass
class Dataset:
    """A fixed split: raw features float32 [N, F], labels int64 [N]. For images,
    `image_shape` is (C, H, W) and feature (c*H + y)*W + x is color c of pixel (y, x)
    (what conv nets read)."""

    name: str
    train_features: np.ndarray
    train_labels: np.ndarray
    test_features: np.ndarray
    test_labels: np.ndarray
    num_classes: int
    image_shape: tuple[int, int, int] | None = None

    @property
    def num_features(self) -> int:
        return self.train_features.shape[1]

    def subset(self, limit: int) -> "Dataset":
        """The first `limit` training and `limit` test samples (for quick runs)."""
        return Dataset(self.name, self.train_features[:limit], self.train_labels[:limit],
                       self.test_features[:limit], self.test_labels[:limit], self.num_classes,
                       self.image_shape)


def load_digits_split(seed: int = 0, test_fraction: float = 0.2) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1797 images, values 0..16, no download), split
    stratified into train/test (~80/20) with `seed`."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as exc:  # the `train` extra
        raise LgnError("the digits dataset needs scikit-learn: pip install 'lgn-compile[train]'"
                       ) from exc
    digits = load_digits()
    features = digits.data.astype(np.float32)
    labels = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        features, labels, test_size=test_fraction, random_state=seed, stratify=labels)
    return Dataset("digits", np.ascontiguousarray(x_train), np.ascontiguousarray(y_train),
                   np.ascontiguousarray(x_test), np.ascontiguousarray(y_test), 10, (1, 8, 8))


def load_dataset(name: str, data_dir=None, seed: int = 0) -> Dataset:
    """Load dataset `name` with its train/test split for `seed`.

    `data_dir` is where file-based datasets live (MNIST/Fashion-MNIST: the four IDX
    files; CIFAR-10: `data_batch_1..5` and `test_batch`, or their `cifar-10-batches-py`
    folder); the bundled digits ignore it. File datasets use their own fixed split.
    """
    key = str(name).strip().lower().replace("_", "-")
    if key == "digits":
        return load_digits_split(seed)
    if key not in DATASETS:
        raise LgnError(f"unknown dataset {name!r} (available: {', '.join(DATASETS)})")
    if data_dir is None:
        raise LgnError(f"dataset {key} is read from files: give their directory (--data-dir)")
    directory = Path(data_dir)
    if not directory.is_dir():
        raise LgnError(f"data directory {directory} does not exist or is not a directory")
    if key == "cifar10":
        return load_cifar10(directory)
    return load_idx_dataset(key, directory)


def load_idx_dataset(name: str, directory: Path) -> Dataset:
    """MNIST-layout IDX files (MNIST, Fashion-MNIST): 28x28 uint8 images, 10 classes."""
    parts, sizes = {}, set()
    for split, (images_name, labels_name) in IDX_FILES.items():
        images = read_idx(_find_file(directory, images_name, (".gz", "")))
        labels = read_idx(_find_file(directory, labels_name, (".gz", "")))
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise LgnError(f"{directory}: {images_name} {images.shape} and {labels_name} "
                           f"{labels.shape} are not matching images [N, H, W] and labels [N]")
        if labels.size and labels.max() > 9:
            raise LgnError(f"{directory}: {labels_name} has labels outside 0..9")
        parts[split] = (images.reshape(len(images), -1).astype(np.float32),
                        labels.astype(np.int64))
        sizes.add(images.shape[1:])
    if len(sizes) != 1:
        raise LgnError(f"{directory}: training and test images differ in size {sorted(sizes)}")
    return Dataset(name, *parts["train"], *parts["test"], 10, (1, *sizes.pop()))


def _find_file(directory: Path, stem: str, suffixes) -> Path:
    for suffix in suffixes:
        path = directory / (stem + suffix)
        if path.exists():  # not only is_file(): a FIFO or directory there gets its own error
            return path
    raise LgnError(f"missing dataset file {directory / (stem + suffixes[0])} "
                   f"(expected {' or '.join(stem + s for s in suffixes)} in {directory})")


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (optionally gzipped) of unsigned bytes as a numpy array.

    The header's shape is checked before any data is read: it must be non-empty in every
    dimension and fit both MAX_IDX_BYTES and what the file can hold (its size, or for gzip
    DEFLATE_MAX_RATIO times it); the data is then inflated up to that size and no further."""
    with open_regular_file(path, "dataset file", MAX_IDX_BYTES + (1 << 20)) as handle:
        size = os.fstat(handle.fileno()).st_size
        try:
            compressed = handle.read(2) == b"\x1f\x8b"
            handle.seek(0)
            stream = gzip.GzipFile(fileobj=handle, mode="rb") if compressed else handle
            header = stream.read(4)
            if len(header) < 4 or header[:2] != b"\0\0" or header[2] != 0x08:
                raise LgnError(f"{path}: not an IDX file of unsigned bytes (bad magic number)")
            dims = stream.read(4 * header[3])
            if header[3] < 1 or len(dims) < 4 * header[3]:
                raise LgnError(f"{path}: corrupt IDX header")
            shape = tuple(int.from_bytes(dims[i:i + 4], "big") for i in range(0, len(dims), 4))
            count = math.prod(shape)  # Python ints: no overflow
            if count == 0:
                raise LgnError(f"{path}: the IDX header declares an empty array {shape} (no "
                               "samples, or images of size 0)")
            holds = size * DEFLATE_MAX_RATIO if compressed else size - len(dims) - 4
            if count > min(holds, MAX_IDX_BYTES):
                raise LgnError(f"{path}: the IDX header declares {shape} = {count:,} bytes, "
                               f"more than the file can hold or the limit of "
                               f"{MAX_IDX_BYTES:,} bytes")
            data = stream.read(count + 1)  # one byte more: trailing data is corruption too
        except (OSError, EOFError, zlib.error) as exc:
            raise LgnError(f"cannot read {path}: corrupt or truncated ({exc})") from None
    if len(data) != count:
        raise LgnError(f"{path}: truncated or corrupt IDX file (header says {shape}, "
                       f"{'more than ' if len(data) > count else ''}{min(len(data), count):,} "
                       "data bytes)")
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles only what CIFAR's python batches hold (dicts, lists, numpy arrays)."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def load_cifar10(directory: Path) -> Dataset:
    """CIFAR-10 python batches: 32x32 uint8 RGB images (channel-major: feature
    (c*32 + y)*32 + x, 3072 features)."""
    if (directory / "cifar-10-batches-py").is_dir():
        directory = directory / "cifar-10-batches-py"
    parts = []
    for names in (CIFAR10_TRAIN, CIFAR10_TEST):
        batches = [_read_cifar_batch(_find_file(directory, name, ("",))) for name in names]
        parts += [np.concatenate([b[0] for b in batches]).astype(np.float32),
                  np.concatenate([b[1] for b in batches]).astype(np.int64)]
    return Dataset("cifar10", *parts, 10, (3, 32, 32))


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open_regular_file(path, "dataset file", MAX_CIFAR_BATCH_BYTES) as f:
        content = f.read()
    try:
        batch = _ArrayUnpickler(io.BytesIO(content), encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (OSError, EOFError, pickle.UnpicklingError, KeyError, TypeError, ValueError,
            IndexError, AttributeError, OverflowError) as exc:
        raise LgnError(f"cannot read CIFAR-10 batch {path}: corrupt or not a python batch "
                       f"({exc})") from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data) or (
            labels.size and (labels.min() < 0 or labels.max() > 9)):
        raise LgnError(f"{path}: not a CIFAR-10 batch (data {data.shape}, "
                       f"{len(labels)} labels)")
    return data, labels


class ThermometerEncoder:
    """Thermometer code with `num_thresholds` thresholds per feature.

    `fit(features)` places the thresholds, from the training data:
    - "uniform": evenly inside the global value range [lo, hi]: threshold t =
      lo + (hi - lo) * (t + 1) / (T + 1), the same for every feature (right for images,
      where all pixels share one scale; T = 1 is a plain threshold at the mid-range);
    - "quantile": per feature, at its (t + 1) / (T + 1) quantiles, so each bit splits the
      training data evenly (right for features on different scales).
    `thresholds` is float32
    [num_features, num_thresholds]; `encode` gives uint8 bits [N, F*T], bit f*T+t set when
    feature f > thresholds[f, t] (the model file's encoder, bit for bit).
    """

    def __init__(self, num_thresholds: int, thresholds: np.ndarray | None = None,
                 method: str = "uniform"):
        if num_thresholds < 1:
            raise LgnError(f"number of thresholds must be at least 1, got {num_thresholds}")
        if method not in ENCODER_METHODS:
            raise LgnError(f"unknown encoder method {method!r} "
                           f"(choose from {', '.join(ENCODER_METHODS)})")
        self.num_thresholds, self.method = int(num_thresholds), method
        self.thresholds = None
        if thresholds is not None:
            thresholds = np.asarray(thresholds, dtype=np.float32)
            if thresholds.ndim != 2 or thresholds.shape[1] != self.num_thresholds:
                raise LgnError(f"thresholds must be [num_features, {self.num_thresholds}], "
                               f"got {thresholds.shape}")
            self.thresholds = np.ascontiguousarray(thresholds)

    def fit(self, features: np.ndarray) -> "ThermometerEncoder":
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 2 or len(features) == 0:
            raise LgnError(f"features must be a non-empty [N, F] array, got {features.shape}")
        steps = (np.arange(1, self.num_thresholds + 1, dtype=np.float64)
                 / (self.num_thresholds + 1))
        if self.method == "quantile":
            thresholds = np.quantile(features, steps, axis=0).T
        else:
            lo, hi = float(features.min()), float(features.max())
            thresholds = np.tile(lo + (hi - lo) * steps, (features.shape[1], 1))
        self.thresholds = np.ascontiguousarray(thresholds.astype(np.float32))
        return self

    @property
    def num_features(self) -> int:
        self._check_fitted()
        return self.thresholds.shape[0]

    @property
    def num_bits(self) -> int:
        return self.num_features * self.num_thresholds

    def encode(self, features: np.ndarray) -> np.ndarray:
        """Raw features [N, F] -> uint8 bits [N, F*T]."""
        self._check_fitted()
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 2 or features.shape[1] != self.num_features:
            raise LgnError(f"expected features [N, {self.num_features}], got {features.shape}")
        return Encoder(self.thresholds).encode(features)

    def config(self) -> dict:
        """The model file's `config.encoder` entry."""
        return {"type": "thermometer", "num_features": self.num_features,
                "num_thresholds": self.num_thresholds, "method": self.method}

    def _check_fitted(self) -> None:
        if self.thresholds is None:
            raise LgnError("ThermometerEncoder is not fitted: call fit(train_features) first")

    def __repr__(self) -> str:
        fitted = "unfitted" if self.thresholds is None else f"num_features={self.num_features}"
        return f"ThermometerEncoder(num_thresholds={self.num_thresholds}, {fitted})"
