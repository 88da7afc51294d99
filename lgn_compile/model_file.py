"""The model file (`model.pt`): the one owner of its format, for writing and for loading.

A model file is `torch.save` of plain types and tensors only, so it loads with
`weights_only=True` and never runs code:

    {"format": "lgn-model", "version": 1,
     "config": {"name": str, "num_inputs": int, "num_classes": int, "tau": float,
                "layers": [{"type": "logic", "in_dim": int, "out_dim": int, "arity": int,
                            "parametrization": str, "connections": str}, ...],
                "encoder": None | {"type": "thermometer", "num_features": int,
                                   "num_thresholds": int}},
     "state_dict": {training parameters, "layers.<i>.indices" wiring (int64 [arity, out]),
                    "encoder.thresholds" (float32 [num_features, num_thresholds])},
     "discrete": {"operands": [int64 [out, arity] per layer],
                  "tables": [uint8 [out, 2**arity] per layer]},
     "meta": {"dataset": str, "accuracy": {...}, "created_by": str, ...}}

`discrete` is the discretized network, so the compiler never needs to know how a
parametrization is trained: layer i's gate g computes `tables[i][g]` (bit j of the truth
table is entry j, DESIGN.md encoding) over the previous layer's outputs
`operands[i][g]` (layer 0 reads the encoded input bits). The encoder's bit for feature f
and threshold t is input `f * num_thresholds + t`, set when the raw feature > threshold.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lgn_compile.errors import LgnError
from lgn_compile.gates import MAX_ARITY

FORMAT = "lgn-model"
VERSION = 1
MAX_GATES = 50_000_000  # far beyond any trained DLGN; protects against absurd sizes
MAX_INPUTS = 10_000_000


@dataclass
class DiscreteLayer:
    """One layer of the discretized network: gate g reads `operands[g]`, computes `tables[g]`."""

    operands: np.ndarray  # int64 [out, arity], indices into the previous layer's outputs
    tables: np.ndarray  # uint8 [out, 2**arity], 0/1 truth-table entries

    @property
    def arity(self) -> int:
        return self.operands.shape[1]

    def table_ints(self) -> list[int]:
        """Truth tables as ints (bit j = entry j); Python ints, since 6-input tables need 64 bits."""
        weights = [1 << j for j in range(self.tables.shape[1])]
        return [sum(w for w, bit in zip(weights, row) if bit) for row in self.tables.tolist()]


@dataclass
class Encoder:
    """Thermometer encoder: input bit f*T+t is set when raw feature f > thresholds[f, t]."""

    thresholds: np.ndarray  # float32 [num_features, num_thresholds]

    def encode(self, features: np.ndarray) -> np.ndarray:
        """Raw features [N, num_features] -> input bits [N, num_features*num_thresholds] (uint8)."""
        features = np.asarray(features, dtype=np.float32)
        bits = features[:, :, None] > self.thresholds[None, :, :]
        return bits.reshape(len(features), -1).astype(np.uint8)


@dataclass
class Model:
    """A loaded, validated model file."""

    config: dict
    layers: list[DiscreteLayer]
    encoder: Encoder | None
    meta: dict
    state_dict: dict

    @property
    def name(self) -> str:
        return self.config["name"]

    @property
    def num_inputs(self) -> int:
        return self.config["num_inputs"]

    @property
    def num_classes(self) -> int:
        return self.config["num_classes"]

    @property
    def num_gates(self) -> int:
        return sum(len(layer.tables) for layer in self.layers)


def save_model(path: str | os.PathLike, model: dict) -> None:
    """Validate a model dict and write it atomically (no half-written file on failure)."""
    import torch

    model_from_dict(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(model, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_model(path: str | os.PathLike) -> Model:
    """Read and validate a model file; any problem is an LgnError naming it.

    The file is untrusted: it is unpickled with `weights_only=True` (nothing in it runs),
    and any exception while checking its contents is reported as a malformed file."""
    import torch

    path = Path(path)
    if not path.exists():
        raise LgnError(f"model file not found: {path}")
    if path.is_dir():
        raise LgnError(f"model path is a directory, not a file: {path}")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise LgnError(f"cannot read model file {path}: {exc.strerror or exc}") from exc
    if not zipfile.is_zipfile(path):
        raise LgnError(f"{path}: not a readable torch model file (not a torch zip archive: "
                       "corrupt, truncated or another format?)")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = next((line.strip() for line in str(exc).splitlines()
                       if "Unsupported global" in line), "objects other than tensors")
        raise LgnError(f"{path}: refusing to load objects that are not plain tensors "
                       f"(not an lgn model file?): {reason}") from exc
    except OSError as exc:
        raise LgnError(f"cannot read model file {path}: {exc.strerror or exc}") from exc
    except Exception as exc:  # torch raises many types for malformed archives
        raise LgnError(f"{path}: not a readable torch model file (corrupt or truncated?)") from exc
    try:
        return model_from_dict(raw)
    except LgnError as exc:
        raise LgnError(f"{path}: {exc}") from exc


def model_from_dict(raw) -> Model:
    """Validate an in-memory model dict (as `torch.load` returns it) and build a Model."""
    try:
        return _validate(raw)
    except LgnError:
        raise
    except Exception as exc:  # a hostile file's odd types must not escape as a traceback
        raise LgnError(f"malformed model file ({type(exc).__name__}: {exc})") from exc


def _validate(raw) -> Model:
    """Check every field the compiler relies on and build a Model."""
    import torch

    if not isinstance(raw, dict) or not isinstance(raw.get("format"), str) \
            or raw["format"] != FORMAT:
        raise LgnError(f"not an lgn model file (expected a dict with format '{FORMAT}')")
    version = raw.get("version")
    if type(version) is not int or version != VERSION:
        raise LgnError(f"unsupported model format version {version!r} (this lgn-compile reads "
                       f"version {VERSION}; upgrade lgn-compile for newer files)")
    config = _require(raw, "config", dict)
    meta = raw.get("meta", {})
    if not isinstance(meta, dict):
        raise LgnError("'meta' must be a dict")
    state_dict = raw.get("state_dict", {})
    if not isinstance(state_dict, dict):
        raise LgnError("'state_dict' must be a dict")
    name = _require(config, "name", str)
    if not (name.isascii() and name.isidentifier()):
        raise LgnError(f"config.name {name!r} must be an ASCII identifier (letters, digits, _)")
    _check_finite(state_dict)
    num_inputs = _require_int(config, "num_inputs", 1, MAX_INPUTS)
    num_classes = _require_int(config, "num_classes", 1, 1 << 16)
    tau = config.get("tau", 1.0)
    if not isinstance(tau, (int, float)) or not np.isfinite(tau) or tau <= 0:
        raise LgnError(f"config.tau must be a positive number, got {tau!r}")
    layer_configs = _require(config, "layers", list)
    if not layer_configs:
        raise LgnError("config.layers is empty: a model needs at least one layer")

    discrete = _require(raw, "discrete", dict)
    operands_list = _require(discrete, "operands", list)
    tables_list = _require(discrete, "tables", list)
    if not len(operands_list) == len(tables_list) == len(layer_configs):
        raise LgnError(f"config has {len(layer_configs)} layers but discrete has "
                       f"{len(operands_list)} operand and {len(tables_list)} table tensors")
    layers, in_dim, total = [], num_inputs, 0
    for i, (cfg, operands, tables) in enumerate(zip(layer_configs, operands_list, tables_list)):
        where = f"layer {i}"
        if not isinstance(cfg, dict):
            raise LgnError(f"{where}: config entry must be a dict")
        arity = _require_int(cfg, "arity", 1, MAX_ARITY)
        if not (isinstance(operands, torch.Tensor) and isinstance(tables, torch.Tensor)):
            raise LgnError(f"{where}: operands and tables must be tensors")
        _check_dense(operands, f"{where} operands")
        _check_dense(tables, f"{where} tables")
        if operands.dtype.is_floating_point or operands.dtype == torch.bool or operands.dim() != 2:
            raise LgnError(f"{where}: operands must be an integer tensor [out, arity], got "
                           f"{operands.dtype} {tuple(operands.shape)}")
        out = operands.shape[0]
        if out < 1 or operands.shape[1] != arity:
            raise LgnError(f"{where}: operands shape {tuple(operands.shape)} does not match "
                           f"arity {arity}")
        if tuple(tables.shape) != (out, 1 << arity) or tables.dtype not in (torch.uint8, torch.bool):
            raise LgnError(f"{where}: tables must be uint8 [{out}, {1 << arity}], got "
                           f"{tables.dtype} {tuple(tables.shape)}")
        if cfg.get("out_dim", out) != out or cfg.get("in_dim", in_dim) != in_dim:
            raise LgnError(f"{where}: config in_dim/out_dim disagree with the wiring "
                           f"({in_dim} -> {out})")
        total += out
        if total > MAX_GATES:
            raise LgnError(f"network has more than {MAX_GATES} gates; refusing an absurd size")
        ops = operands.to(torch.int64).numpy()
        if ops.size and (ops.min() < 0 or ops.max() >= in_dim):
            raise LgnError(f"{where}: operand index out of range [0, {in_dim}) "
                           f"(min {ops.min()}, max {ops.max()})")
        tab = tables.to(torch.uint8).numpy()
        if tab.size and tab.max() > 1:
            raise LgnError(f"{where}: table entries must be 0 or 1")
        layers.append(DiscreteLayer(np.ascontiguousarray(ops), np.ascontiguousarray(tab)))
        in_dim = out
    if in_dim % num_classes:
        raise LgnError(f"last layer has {in_dim} outputs, not divisible into {num_classes} "
                       "equal class groups")
    return Model(dict(config), layers, _load_encoder(config, state_dict, num_inputs), meta,
                 state_dict)


def _load_encoder(config: dict, state_dict: dict, num_inputs: int) -> Encoder | None:
    import torch

    enc = config.get("encoder")
    if enc is None:
        return None
    if not isinstance(enc, dict) or enc.get("type") != "thermometer":
        raise LgnError(f"unknown encoder {enc!r} (supported: thermometer)")
    thresholds = state_dict.get("encoder.thresholds")
    if not isinstance(thresholds, torch.Tensor) or thresholds.dim() != 2:
        raise LgnError("thermometer encoder needs state_dict['encoder.thresholds'] "
                       "[num_features, num_thresholds]")
    _check_dense(thresholds, "encoder.thresholds")
    declared = (enc.get("num_features", thresholds.shape[0]),
                enc.get("num_thresholds", thresholds.shape[1]))
    if declared != tuple(thresholds.shape):
        raise LgnError(f"encoder config says {declared[0]} features x {declared[1]} thresholds "
                       f"but encoder.thresholds is {tuple(thresholds.shape)}")
    if thresholds.numel() != num_inputs:
        raise LgnError(f"encoder produces {thresholds.numel()} bits but the network has "
                       f"{num_inputs} inputs")
    values = thresholds.to(torch.float32).numpy()
    if not np.isfinite(values).all():
        raise LgnError("encoder thresholds contain NaN or infinity")
    return Encoder(values)


def _check_dense(tensor, what: str) -> None:
    """Refuse a tensor whose shape claims more elements than its file stores: a stride-0
    view saved by torch takes bytes on disk but gigabytes once copied."""
    stored = tensor.untyped_storage().nbytes() - tensor.storage_offset() * tensor.element_size()
    if tensor.numel() * tensor.element_size() > stored:
        raise LgnError(f"{what}: shape {tuple(tensor.shape)} is larger than its stored data "
                       f"({stored} bytes); refusing an absurd size")


def _check_finite(state_dict: dict) -> None:
    """NaN or infinite training weights mean the training diverged: the tables are garbage."""
    import torch

    for key, value in state_dict.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() \
                and not bool(torch.isfinite(value).all()):
            raise LgnError(f"state_dict[{key!r}] contains NaN or infinity (training diverged?)")


def _require(mapping: dict, key: str, kind: type):
    value = mapping.get(key)
    if not isinstance(value, kind):
        raise LgnError(f"missing or invalid '{key}' (expected {kind.__name__})")
    return value


def _require_int(mapping: dict, key: str, low: int, high: int) -> int:
    value = mapping.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise LgnError(f"'{key}' must be an int in [{low}, {high}], got {value!r}")
    return value
