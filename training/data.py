"""Datasets and input encoders.

A dataset is a fixed train/test split of raw features (float32 [N, F]) and labels (int64).
A `ThermometerEncoder` turns raw features into input bits exactly as the model file's
encoder does (`lgn_compile.model_file.Encoder.encode`, which it calls): bit `f*T + t` is
set when raw feature f > threshold[f, t].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lgn_compile.errors import LgnError
from lgn_compile.model_file import Encoder

DATASETS = ("digits",)


@dataclass
class Dataset:
    """A fixed split: raw features float32 [N, F], labels int64 [N]."""

    name: str
    train_features: np.ndarray
    train_labels: np.ndarray
    test_features: np.ndarray
    test_labels: np.ndarray
    num_classes: int

    @property
    def num_features(self) -> int:
        return self.train_features.shape[1]


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
                   np.ascontiguousarray(x_test), np.ascontiguousarray(y_test), 10)


def load_dataset(name: str, data_dir=None, seed: int = 0) -> Dataset:
    """Load dataset `name` with its train/test split for `seed`.

    `data_dir` is where file-based datasets live; the bundled digits ignore it.
    """
    key = str(name).strip().lower()
    if key == "digits":
        return load_digits_split(seed)
    raise LgnError(f"unknown dataset {name!r} (available: {', '.join(DATASETS)})")


class ThermometerEncoder:
    """Thermometer code with `num_thresholds` thresholds per feature.

    `fit(features)` places the thresholds uniformly inside the training data's global value
    range [lo, hi]: threshold t = lo + (hi - lo) * (t + 1) / (T + 1), the same for every
    feature (right for images, where all pixels share one scale). `thresholds` is float32
    [num_features, num_thresholds]; `encode` gives uint8 bits [N, F*T], bit f*T+t set when
    feature f > thresholds[f, t] (the model file's encoder, bit for bit).
    """

    def __init__(self, num_thresholds: int, thresholds: np.ndarray | None = None):
        if num_thresholds < 1:
            raise LgnError(f"number of thresholds must be at least 1, got {num_thresholds}")
        self.num_thresholds = int(num_thresholds)
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
        lo, hi = float(features.min()), float(features.max())
        steps = (np.arange(1, self.num_thresholds + 1, dtype=np.float64)
                 / (self.num_thresholds + 1))
        row = (lo + (hi - lo) * steps).astype(np.float32)
        self.thresholds = np.ascontiguousarray(np.tile(row, (features.shape[1], 1)))
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
                "num_thresholds": self.num_thresholds}

    def _check_fitted(self) -> None:
        if self.thresholds is None:
            raise LgnError("ThermometerEncoder is not fitted: call fit(train_features) first")

    def __repr__(self) -> str:
        fitted = "unfitted" if self.thresholds is None else f"num_features={self.num_features}"
        return f"ThermometerEncoder(num_thresholds={self.num_thresholds}, {fitted})"
