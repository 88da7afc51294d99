"""What both importers share: reading tensors out of foreign modules and state dicts,
walking a network's modules in order, and writing the result as our model-file dict.

A foreign network becomes a list of `ImportedLayer`s (wiring plus truth tables in our
encoding, docs/DESIGN.md) and a class head (`num_classes`, `tau`); `model_dict_from_layers`
turns that into a validated model-file dict, so the compiler never sees the foreign code.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lgn_compile.errors import LgnError
from lgn_compile.gates import difflogic_op_to_table
from lgn_compile.model_file import check_tensors, model_from_dict, read_torch_file, short
from lgn_compile.random_net import model_dict

# Modules that only reshape or pass data through; an importer steps over them.
PASS_THROUGH = ("Flatten", "Identity", "Dropout", "Unflatten")


@dataclass
class ImportedLayer:
    """One logic layer in our encoding: gate g reads `operands[g]` (indices into the
    previous layer's outputs) and computes the 0/1 table row `tables[g]` (entry j is the
    output for x0 + 2*x1 + ...)."""

    operands: np.ndarray  # int64 [out, arity]
    tables: np.ndarray  # uint8 [out, 2**arity]
    parametrization: str


def as_array(value, what: str) -> np.ndarray:
    """A tensor, array or nested list as a numpy array (on CPU), or an LgnError naming it;
    a tensor must be dense and hold the data its shape claims (no stride-0 giants)."""
    check_tensors(value, what)
    try:
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        return np.asarray(value)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise LgnError(f"{what} is not a tensor ({type(value).__name__})") from exc


def wiring_matrix(indices, out_dim: int, arity: int, what: str) -> np.ndarray:
    """Wiring given as `arity` index vectors (difflogic's (a, b) tuple or a [arity, out]
    tensor) -> int64 [out, arity] operands."""
    if isinstance(indices, (tuple, list)):
        rows = [as_array(row, what).reshape(-1) for row in indices]
        if len({len(row) for row in rows}) > 1:
            raise LgnError(f"{what}: the index vectors have different lengths "
                           f"{[len(row) for row in rows]}")
        array = np.stack(rows) if rows else np.zeros((0, 0))
    else:
        array = as_array(indices, what)
    if array.shape != (arity, out_dim):
        raise LgnError(f"{what} must be {arity} index vectors of length {out_dim} (one per "
                       f"gate), got shape {tuple(array.shape)}")
    if array.dtype.kind not in "iu":
        raise LgnError(f"{what} must hold integer indices, got {array.dtype}")
    return np.ascontiguousarray(array.T.astype(np.int64))


def msb_first_to_tables(luts: np.ndarray) -> np.ndarray:
    """0/1 truth tables [out, 2**arity] whose entry index has x0 as its MOST significant
    bit (torchlogix' light and warp LUTs) -> our order, x0 least significant."""
    arity = int(luts.shape[1]).bit_length() - 1
    reverse = [int(format(j, f"0{arity}b")[::-1], 2) for j in range(1 << arity)]
    return np.ascontiguousarray(luts[:, reverse].astype(np.uint8))


# Row i: the 0/1 table entries (our order) of difflogic op i, from the one conversion.
_OP_TABLE_ROWS = np.array([[(difflogic_op_to_table(op) >> j) & 1 for j in range(4)]
                           for op in range(16)], dtype=np.uint8)


def op_weights_to_tables(weights, what: str) -> np.ndarray:
    """difflogic-style gate logits [out, 16] (op order of difflogic's bin_op) -> our 0/1
    tables [out, 4]: each gate is the op of its largest logit (argmax, first on ties, as
    difflogic's eval forward)."""
    array = finite_matrix(weights, what)
    if array.shape[1] != 16:
        raise LgnError(f"{what} must have shape [out, 16] (one logit per difflogic op), got "
                       f"{tuple(array.shape)}")
    return _OP_TABLE_ROWS[array.argmax(axis=1)]


def finite_matrix(weights, what: str) -> np.ndarray:
    """A float weight matrix [out, n] with at least one row and no NaN or infinity."""
    array = as_array(weights, what)
    if array.ndim != 2 or array.shape[0] < 1 or array.dtype.kind not in "fiu":
        raise LgnError(f"{what} must be a numeric matrix [out, n], got "
                       f"{array.dtype} {tuple(array.shape)}")
    if not np.isfinite(array).all():
        raise LgnError(f"{what} contains NaN or infinity (training diverged?)")
    return array


def check_network(model, source: str) -> None:
    """What an importer accepts: an nn.Module or a state dict (a Mapping)."""
    if not isinstance(model, Mapping) and not callable(getattr(model, "children", None)):
        raise LgnError(f"{source}: expected the trained nn.Module or its state_dict, got "
                       f"{type(model).__name__}")


def is_own_network(model) -> bool:
    """Whether `model` is built of lgn_train's own layers (a LogicNet, or an nn.Sequential
    of its LogicLayers and GroupSum): those are exported by lgn_train itself."""
    modules = getattr(model, "modules", None)
    return callable(modules) and any(type(module).__module__.startswith("lgn_train.")
                                     for module in modules())


def from_own_network(model, name: str, meta: dict) -> dict:
    """The model-file dict of a network of lgn_train layers (`lgn_train.export.model_to_dict`,
    without an input encoder: the net reads bits)."""
    from lgn_train.export import model_to_dict

    return model_to_dict(model, None, {"dataset": "unknown", **meta}, name=name)


def leaf_modules(model) -> list:
    """The network's modules in forward order: containers (nn.Sequential and friends) are
    opened recursively, so `Sequential(Flatten(), Sequential(layer, layer), GroupSum())`
    reads as four modules. A module with its own forward is taken in registration order,
    which is the forward order of every difflogic/torchlogix model we know of."""
    children = list(model.children())
    if not children or _is_layer(model):
        return [model]
    return [leaf for child in children for leaf in leaf_modules(child)]


def read_modules(model, source: str, read_layer, skipped: tuple, supported: str):
    """Walk the network: (logic layers, the GroupSum's (k, tau) or None, the first layer's
    in_dim or None). `read_layer(module, where)` returns the module's ImportedLayer, or
    None when it is no logic layer; modules named in `skipped` pass through, others and
    anything after the GroupSum are an LgnError."""
    layers, head, first_in_dim = [], None, None
    for position, module in enumerate(leaf_modules(model)):
        kind = module_name(module)
        if head is not None:
            raise LgnError(f"{source}: module {kind} after the GroupSum (position "
                           f"{position}); the GroupSum must come last")
        layer = read_layer(module, f"{source}: logic layer {len(layers)} ({kind} at "
                                   f"position {position})")
        if layer is not None:
            layers.append(layer)
            if first_in_dim is None:
                first_in_dim = getattr(module, "in_dim", None)
        elif hasattr(module, "k") and hasattr(module, "tau"):
            head = (module.k, module.tau)
        elif kind not in skipped:
            raise LgnError(f"{source}: unsupported module {kind} at position {position} "
                           f"(the importer reads {supported})")
    return layers, head, first_in_dim


def _is_layer(module) -> bool:
    """A logic layer or class head: it has children of its own (torchlogix's connections
    and parametrization) but must be read as one unit."""
    return any(hasattr(module, name) for name in ("weights", "weight", "k"))


def module_name(module) -> str:
    return type(module).__name__


def merge_head(found, num_classes, tau, source: str) -> tuple:
    """The model's GroupSum (k, tau) when it has one, checked against any given values;
    else the given values."""
    if found is None:
        return num_classes, tau
    if (num_classes is not None and num_classes != found[0]) or \
            (tau is not None and tau != found[1]):
        raise LgnError(f"{source}: the model's GroupSum(k={short(found[0])}, "
                       f"tau={short(found[1])}) disagrees with the given "
                       f"classes={short(num_classes)}, tau={short(tau)}")
    return found


def class_head(num_classes, tau, last_width: int, source: str) -> tuple[int, float]:
    """Check the GroupSum parameters against the last layer: k equal contiguous groups."""
    if num_classes is None:
        raise LgnError(f"{source}: no GroupSum found: give the number of classes "
                       "(num_classes=..., or --classes on the command line)")
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) \
            or num_classes < 1:
        raise LgnError(f"{source}: number of classes must be a positive int, got "
                       f"{short(num_classes)}")
    if last_width % int(num_classes):
        raise LgnError(f"{source}: the last logic layer has {last_width} outputs, not "
                       f"divisible into {num_classes} class groups (GroupSum k)")
    tau = 1.0 if tau is None else tau
    if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not 0 < tau < math.inf:
        raise LgnError(f"{source}: GroupSum tau must be a positive number, got {short(tau)}")
    return int(num_classes), float(tau)


def model_dict_from_layers(layers: list[ImportedLayer], num_inputs: int | None,
                           num_classes, tau, name: str, source: str,
                           meta: dict | None = None) -> dict:
    """Our model-file dict for the imported layers, validated (any problem: one LgnError).

    `num_inputs` defaults to one past the largest index the first layer reads (a network
    whose last inputs are unused needs it given)."""
    if not layers:
        raise LgnError(f"{source}: no logic layers found")
    if num_inputs is None:
        num_inputs = int(layers[0].operands.max()) + 1 if layers[0].operands.size else 1
    num_classes, tau = class_head(num_classes, tau, len(layers[-1].tables), source)
    result = model_dict(num_inputs, num_classes, [layer.operands for layer in layers],
                        [layer.tables for layer in layers], name=name,
                        meta={"dataset": "unknown", "created_by": f"lgn-compile import "
                              f"({source})", **(meta or {})})
    result["config"]["tau"] = tau
    for cfg, layer in zip(result["config"]["layers"], layers):
        cfg["parametrization"] = layer.parametrization
        cfg["connections"] = "imported"
    try:
        model_from_dict(result)
    except LgnError as exc:
        raise LgnError(f"{source}: the imported network is not valid: {exc}") from exc
    return result


def load_torch_file(path: str | Path, trust_pickle: bool):
    """Read a torch file: tensors and plain containers only (`weights_only=True`), unless
    the user trusts the file and allows unpickling arbitrary objects (a whole nn.Module),
    which runs code from the file. Either way the file is bounded first (model_file's
    `read_torch_file`: regular file, size, zip members, tensor dtypes and sizes)."""
    try:
        return read_torch_file(path, "input file")
    except LgnError as exc:
        if not isinstance(exc.__cause__, pickle.UnpicklingError):
            raise
        if not trust_pickle:
            raise LgnError(f"{path} holds pickled Python objects (a whole nn.Module?); "
                           "loading it can run code from the file, so it is refused: save "
                           "the state_dict instead, or pass --trust-pickle for a file you "
                           "trust") from exc
    return read_torch_file(path, "input file", trust_pickle=True)
