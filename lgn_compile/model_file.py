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
table is entry j, docs/DESIGN.md encoding) over the previous layer's outputs
`operands[i][g]` (layer 0 reads the encoded input bits). The encoder's bit for feature f
and threshold t is input `f * num_thresholds + t`, set when the raw feature > threshold.
"""

from __future__ import annotations

import math
import os
import pickle
import re
import stat
import tempfile
import warnings
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lgn_compile.errors import LgnError
from lgn_compile.gates import MAX_ARITY

FORMAT = "lgn-model"
VERSION = 1
MAX_GATES = 50_000_000  # far beyond any trained DLGN; protects against absurd sizes
MAX_INPUTS = 1 << 22  # 3072 CIFAR features x 1024 thresholds fit
# Inputs are backed by data when an encoder holds a threshold for each; without one, a
# count far beyond what the first layer reads would only cost memory downstream.
MAX_UNBACKED_INPUTS = 1 << 16  # or 8x the first layer's operand slots, whichever is more
MAX_FILE_BYTES = 4 << 30  # files (model, import, checkpoint) larger than this are not read
# torch.save stores archive members uncompressed; a member declaring many times the file's
# size would be a zip bomb (memory that the file does not hold).
MAX_EXPANSION = 16
# Dtypes a tensor in a file may have (complex, quantized, float8 and the like are refused).
INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
# meta is copied into report.json: it must stay small, JSON-safe and deterministic.
MAX_META_DEPTH = 32
MAX_META_ITEMS = 100_000
MAX_META_CHARS = 16 << 20


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


class EncoderRangeWarning(UserWarning):
    """A batch of features sets (almost) no input bit, or (almost) all: features in other
    units than the model was trained on, e.g. pixels scaled to [0, 1] for a 0-255 model."""


@dataclass
class Encoder:
    """Thermometer encoder: input bit f*T+t is set when raw feature f > thresholds[f, t].

    Thresholds are in the units of the raw features the model was trained on (for MNIST
    trained by lgn-train: pixel values 0..255, not [0, 1]); `value_range` gives their span.
    """

    thresholds: np.ndarray  # float32 [num_features, num_thresholds]

    @property
    def value_range(self) -> tuple[float, float]:
        """(lowest, highest) threshold: features should spread around this range."""
        return float(self.thresholds.min()), float(self.thresholds.max())

    def encode(self, features: np.ndarray) -> np.ndarray:
        """Raw features [N, F] -> input bits [N, F*T] (uint8); one sample [F] -> bits [F*T].

        Features are in the training data's units (see the class docstring). A batch of at
        least 16 samples that sets under 0.5% (or over 99.5%) of its bits warns
        (EncoderRangeWarning): nearly every such input is classified alike."""
        num_features = self.thresholds.shape[0]
        try:
            array = np.asarray(features, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise LgnError(f"encoder input must be numbers [N, {num_features}] or one sample "
                           f"[{num_features}] ({exc})") from None
        if array.ndim not in (1, 2) or array.shape[-1] != num_features:
            raise LgnError(f"encoder input must be [N, {num_features}] features (or one "
                           f"sample [{num_features}]), got shape {array.shape}")
        batch = array.reshape(-1, num_features)
        bits = (batch[:, :, None] > self.thresholds[None, :, :]).reshape(len(batch), -1)
        if len(batch) >= 16:
            self._warn_on_saturation(batch, bits.mean())
        bits = bits.astype(np.uint8)
        return bits[0] if array.ndim == 1 else bits

    def _warn_on_saturation(self, batch: np.ndarray, share: float) -> None:
        if 0.005 <= share <= 0.995:
            return
        low, high = self.value_range
        warnings.warn(f"encoder: this batch sets {share:.2%} of the input bits; features span "
                      f"[{float(batch.min()):g}, {float(batch.max()):g}] but the model's "
                      f"thresholds span [{low:g}, {high:g}]: give features in the units the "
                      "model was trained on (e.g. 0-255 pixels, not [0, 1])",
                      EncoderRangeWarning, stacklevel=3)


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
    """Validate a model dict and write it atomically (no half-written file on failure),
    with the permissions of a new file under the umask (mkstemp alone would give 0600).
    meta is written in its JSON-safe form (`json_safe_meta`), which loads as it is."""
    import torch

    model = {**model, "meta": model_from_dict(model).meta}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        os.close(fd)
        torch.save(model, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process umask (reading it means setting it; restored at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def load_model(path: str | os.PathLike) -> Model:
    """Read and validate a model file; any problem is an LgnError naming it.

    The file is untrusted: see `read_torch_file` for what is checked before and while it
    is unpickled (with `weights_only=True`: nothing in it runs)."""
    path = Path(path)
    raw = read_torch_file(path, "model file")
    try:
        return model_from_dict(raw)
    except LgnError as exc:
        raise LgnError(f"{path}: {exc}") from exc


def read_torch_file(path: str | os.PathLike, what: str = "file", trust_pickle: bool = False):
    """Load a torch.save archive from an untrusted path, bounded by what the file holds.

    Refused with one LgnError: a missing, non-regular (directory, FIFO, device) or larger
    than MAX_FILE_BYTES file; anything but a zip archive (the legacy format allocates
    the sizes it declares); members declaring more than MAX_EXPANSION times the file's
    size; objects other than plain containers and tensors (unless `trust_pickle`, which
    runs code from the file); tensors that are quantized, sparse, of other dtypes than
    INT_DTYPES / FLOAT_DTYPES / bool, or larger than their stored data. torch's own
    warnings while loading are silenced: the error line says what is wrong."""
    import torch

    path = Path(path)
    with open_regular_file(path, what, MAX_FILE_BYTES) as handle:
        size = os.fstat(handle.fileno()).st_size
        _check_archive(handle, size, path)
        handle.seek(0)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                raw = torch.load(handle, map_location="cpu", weights_only=not trust_pickle)
        except pickle.UnpicklingError as exc:
            found = re.search(r"GLOBAL ([\w.]+)", str(exc))
            reason = f"it holds {found.group(1)}" if found else "objects other than tensors"
            raise LgnError(f"{path}: refusing to load objects that are not plain tensors "
                           f"(not an lgn model file?): {reason}") from exc
        except ModuleNotFoundError as exc:
            raise LgnError(f"{path}: unpickling needs the package '{exc.name}' importable "
                           "here (or save the state_dict instead)") from exc
        except OSError as exc:
            raise LgnError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
        except Exception as exc:  # torch raises many types for malformed archives
            raise LgnError(f"{path}: not a readable torch {what} (corrupt or truncated? "
                           f"{type(exc).__name__})") from exc
    try:
        check_tensors(raw)
    except LgnError as exc:
        raise LgnError(f"{path}: {exc}") from exc
    return raw


@contextmanager
def open_regular_file(path: str | os.PathLike, what: str, limit: int):
    """`with open_regular_file(path, what, limit) as f`: the file opened for reading, or
    one LgnError when it is missing, unreadable, not a regular file (a FIFO or device
    would block or never end) or larger than `limit` bytes. Opened non-blocking and
    checked on the open descriptor, so a path swapped after a check changes nothing."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise LgnError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise LgnError(f"{what} path is a directory, not a file: {path}") from None
    except OSError as exc:
        raise LgnError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    info = os.fstat(fd)
    problem = None
    if stat.S_ISDIR(info.st_mode):
        problem = f"{what} path is a directory, not a file: {path}"
    elif not stat.S_ISREG(info.st_mode):
        problem = f"{what} {path} is not a regular file (a device, FIFO or socket)"
    elif info.st_size > limit:
        problem = f"{what} {path} is {info.st_size:,} bytes; refusing files over {limit:,} bytes"
    if problem:
        os.close(fd)
        raise LgnError(problem)
    os.set_blocking(fd, True)
    with os.fdopen(fd, "rb") as handle:
        yield handle


def _check_archive(handle, size: int, path: Path) -> None:
    """A zip archive whose members' declared sizes fit what the file can hold: torch
    allocates each member's declared size before reading it."""
    try:
        with zipfile.ZipFile(handle) as archive:
            declared = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError,
            NotImplementedError):
        raise LgnError(f"{path}: not a readable torch file (not a torch zip archive: "
                       "corrupt, truncated, another format, or the legacy torch format; "
                       "re-save it with a current torch.save)") from None
    limit = min(MAX_FILE_BYTES, MAX_EXPANSION * size)
    if declared > limit:
        raise LgnError(f"{path}: its archive members declare {declared:,} bytes unpacked "
                       f"from a {size:,}-byte file (more than {MAX_EXPANSION}x: a zip bomb?); "
                       "refusing to unpack it")


def check_tensors(obj, where: str = "entry") -> None:
    """Every tensor inside `obj` (nested dicts, lists, tuples, sets; cycles allowed) is a
    dense tensor of an allowed dtype holding the data its shape claims."""
    import torch

    allowed = {getattr(torch, name) for name in INT_DTYPES + FLOAT_DTYPES
               if hasattr(torch, name)} | {torch.bool}
    seen, stack = set(), [(obj, where)]
    while stack:
        value, where = stack.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, torch.Tensor):
            if value.is_quantized or value.layout != torch.strided:
                kind = "quantized" if value.is_quantized else f"{value.layout} (not dense)"
                raise LgnError(f"{where} is a {kind} tensor; only plain dense tensors are read")
            if value.dtype not in allowed:
                raise LgnError(f"{where} has dtype {value.dtype}; tensors must be integer, "
                               "bool or real floating point")
            _check_dense(value, where)
        elif isinstance(value, dict):
            stack += [(child, f"{where}[{short(key)}]"[:200]) for key, child in value.items()]
        elif isinstance(value, (list, tuple, set, frozenset)):
            stack += [(child, f"{where}[{i}]"[:200]) for i, child in enumerate(value)]


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
        raise LgnError(f"unsupported model format version {short(version)} (this lgn-compile reads "
                       f"version {VERSION}; upgrade lgn-compile for newer files)")
    check_tensors(raw)
    config = _require(raw, "config", dict)
    meta = json_safe_meta(raw.get("meta", {}))
    state_dict = raw.get("state_dict", {})
    if not isinstance(state_dict, dict):
        raise LgnError("'state_dict' must be a dict")
    name = _require(config, "name", str)
    if not (name.isascii() and name.isidentifier()):
        raise LgnError(f"config.name {short(name)} must be an ASCII identifier (letters, digits, _)")
    _check_finite(state_dict)
    num_inputs = _require_int(config, "num_inputs", 1, MAX_INPUTS)
    num_classes = _require_int(config, "num_classes", 1, 1 << 16)
    tau = config.get("tau", 1.0)
    if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not 0 < tau < math.inf:
        raise LgnError(f"config.tau must be a positive number, got {short(tau)}")
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
        if str(operands.dtype).removeprefix("torch.") not in INT_DTYPES or operands.dim() != 2:
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
    if config.get("encoder") is None and \
            num_inputs > max(MAX_UNBACKED_INPUTS, 8 * layers[0].operands.size):
        raise LgnError(f"config.num_inputs {num_inputs:,} but the first layer reads only "
                       f"{layers[0].operands.size:,} operands and there is no encoder; "
                       f"refusing a declared size that no data backs")
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
        raise LgnError(f"unknown encoder {short(enc)} (supported: thermometer)")
    thresholds = state_dict.get("encoder.thresholds")
    if not isinstance(thresholds, torch.Tensor) or thresholds.dim() != 2:
        raise LgnError("thermometer encoder needs state_dict['encoder.thresholds'] "
                       "[num_features, num_thresholds]")
    _check_dense(thresholds, "encoder.thresholds")
    if str(thresholds.dtype).removeprefix("torch.") not in FLOAT_DTYPES + INT_DTYPES:
        raise LgnError(f"encoder.thresholds must be real numbers, got {thresholds.dtype}")
    declared = (enc.get("num_features", thresholds.shape[0]),
                enc.get("num_thresholds", thresholds.shape[1]))
    if declared != tuple(thresholds.shape):
        raise LgnError(f"encoder config says {declared[0]} features x {declared[1]} thresholds "
                       f"but encoder.thresholds is {tuple(thresholds.shape)}")
    if thresholds.numel() != num_inputs:
        raise LgnError(f"encoder produces {thresholds.numel()} bits but the network has "
                       f"{num_inputs} inputs")
    values = thresholds.to(torch.float32)
    if not bool(torch.isfinite(values).all()):
        raise LgnError("encoder thresholds contain NaN or infinity")
    if not torch.equal(values.to(torch.float64), thresholds.to(torch.float64)):
        raise LgnError(f"encoder thresholds ({thresholds.dtype}) are not all exactly float32 "
                       "values; the encoder compares in float32: round them first")
    return Encoder(values.numpy())


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
            raise LgnError(f"state_dict[{short(key)}] contains NaN or infinity (training diverged?)")


def short(value) -> str:
    """A value for an error line: one line, at most 60 characters (a tensor prints many)."""
    text = " ".join(repr(value).split())
    return text if len(text) <= 60 else text[:57] + "..."


def _require(mapping: dict, key: str, kind: type):
    value = mapping.get(key)
    if not isinstance(value, kind):
        raise LgnError(f"missing or invalid '{key}' (expected {kind.__name__})")
    return value


def _require_int(mapping: dict, key: str, low: int, high: int) -> int:
    value = mapping.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise LgnError(f"'{key}' must be an int in [{low}, {high}], got {short(value)}")
    return value


# Keys the compiler, report and verify read from meta, with the types they need.
_META_FIELDS = {"dataset": (str,), "created_by": (str,), "accuracy": (dict,),
                "seed": (int,), "split_seed": (int,), "num_train": (int,), "num_test": (int,)}


def json_safe_meta(meta) -> dict:
    """meta as a JSON-safe, deterministic dict, or one LgnError: string keys only; lists for
    tuples and sets (sets sorted: all str or all numbers); NaN and infinity become None;
    0-d tensors and numpy scalars become numbers; ints within 64 bits; at most
    MAX_META_DEPTH levels (a cycle is too deep), MAX_META_ITEMS values and MAX_META_CHARS
    characters of strings (counting shared ones each time). Known fields are checked:
    dataset/created_by str, accuracy a dict of numbers (or None), seed/split_seed ints in
    [0, 2**32), num_train/num_test ints >= 0."""
    if not isinstance(meta, dict):
        raise LgnError(f"'meta' must be a dict, got {type(meta).__name__}")
    budget = {"items": MAX_META_ITEMS, "chars": MAX_META_CHARS}
    safe = _json_safe(meta, "meta", 0, budget)
    for key, kinds in _META_FIELDS.items():
        value = safe.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, kinds)):
            raise LgnError(f"meta.{key} must be {' or '.join(k.__name__ for k in kinds)}, "
                           f"got {type(value).__name__}")
    for key, value in (safe.get("accuracy") or {}).items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise LgnError(f"meta.accuracy.{key} must be a number, got {type(value).__name__}")
    for key, low, high in (("seed", 0, 2**32 - 1), ("split_seed", 0, 2**32 - 1),
                           ("num_train", 0, 2**63 - 1), ("num_test", 0, 2**63 - 1)):
        if safe.get(key) is not None and not low <= safe[key] <= high:
            raise LgnError(f"meta.{key} must be in [{low}, {high}], got {safe[key]}")
    return safe


def _json_safe(value, where: str, depth: int, budget: dict):
    import torch

    budget["items"] -= 1
    if budget["items"] < 0:
        raise LgnError(f"meta holds more than {MAX_META_ITEMS:,} values; refusing it")
    if depth > MAX_META_DEPTH:
        raise LgnError(f"meta is nested more than {MAX_META_DEPTH} levels deep (or holds a "
                       f"cycle) at {where[:80]}...")
    if isinstance(value, torch.Tensor) and value.dim() == 0 and not value.is_complex():
        value = value.item()
    elif isinstance(value, np.generic) and not np.iscomplexobj(value):
        value = value.item()
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not -2**63 <= value < 2**64:
            raise LgnError(f"{where} is an integer beyond 64 bits")
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        budget["chars"] -= len(value)
        if budget["chars"] < 0:
            raise LgnError(f"meta holds more than {MAX_META_CHARS:,} characters of text")
        return value
    if isinstance(value, dict):
        bad = [key for key in value if not isinstance(key, str)]
        if bad:
            raise LgnError(f"{where} has a key {bad[0]!r:.60} of type {type(bad[0]).__name__}; "
                           "meta keys must be strings")
        budget["chars"] -= sum(map(len, value))
        return {key: _json_safe(child, _meta_path(where, key), depth + 1, budget)
                for key, child in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(child, f"{where}[{i}]"[:200], depth + 1, budget)
                for i, child in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        items = [_json_safe(child, f"{where}{{}}"[:200], depth + 1, budget) for child in value]
        if all(isinstance(item, str) for item in items):
            return sorted(items)
        if all(isinstance(item, (int, float)) and not isinstance(item, bool) for item in items):
            return sorted(items)
        raise LgnError(f"{where} is a set of mixed or unorderable values; store a list")
    raise LgnError(f"{where} is a {type(value).__name__}; meta holds only strings, numbers, "
                   "booleans, None, lists and dicts")


def _meta_path(where: str, key: str) -> str:
    """Where a value sits in meta, for an error line (odd keys quoted: no newline gets out)."""
    return (f"{where}.{key}" if key.isidentifier() else f"{where}[{key!r}]")[:200]
