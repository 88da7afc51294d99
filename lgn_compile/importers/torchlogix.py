"""Import a network trained with torchlogix (PyPI `torchlogix`, github.com/ligerlac/torchlogix).

torchlogix's dense model is an nn.Sequential of `LogicDense` layers and a `GroupSum`:

- `LogicDense.weight` [out, n] with `lut_rank` inputs per gate, read by its
  `parametrization`: `raw` (n = 16 logits over difflogic's op order, argmax; rank 2),
  `light` (n = 2**rank, entry set when its weight > 0) or `warp` (n = 2**rank Walsh
  coefficients; the table is `weight @ H < 0` for the Sylvester Hadamard matrix H).
  The light/warp entry index has the FIRST operand as its most significant bit.
- `LogicDense.connections.indices` [rank, out] (a buffer, so in the state dict as
  `<layer>.connections.indices`); learnable connections keep candidates
  `indices` [cand, rank, out] and pick `connections.weights.argmax(0)`.
- `GroupSum(k, tau, beta)`: class scores `(sum of contiguous group + beta) / tau`; beta and
  tau shift and scale every score alike, so argmax is unchanged. Our scores are the sums.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from lgn_compile.errors import LgnError
from lgn_compile.gates import MAX_ARITY
from lgn_compile.model_file import short
from lgn_compile.importers.common import (
    PASS_THROUGH,
    ImportedLayer,
    as_array,
    check_network,
    finite_matrix,
    from_own_network,
    is_own_network,
    merge_head,
    model_dict_from_layers,
    module_name,
    msb_first_to_tables,
    op_weights_to_tables,
    read_modules,
    wiring_matrix,
)

SOURCE = "torchlogix"
PARAMETRIZATIONS = ("raw", "light", "warp")
# torchlogix class name of each parametrization
_CLASS_NAMES = {"RawLUTParametrization": "raw", "LightLUTParametrization": "light",
                "WarpLUTParametrization": "warp"}
_SKIPPED = PASS_THROUGH + ("DummyBinarization",)  # DummyBinarization: x.float()


def from_torchlogix(model, num_classes: int | None = None, tau: float | None = None,
                    num_inputs: int | None = None, parametrization: str | None = None,
                    name: str = "torchlogix_net", meta: dict | None = None) -> dict:
    """A torchlogix network as our model-file dict (save it with model_file.save_model).

    `model` is the nn.Module, or its `state_dict()`; a state dict does not say which
    parametrization its layers use nor the GroupSum, so give `parametrization` (raw is
    recognised by its 16 logits on 2-input gates) and `num_classes` (and `tau`).
    """
    check_network(model, SOURCE)
    if is_own_network(model):  # lgn_train's layers: its own export reads them exactly
        return from_own_network(model, name, meta or {})
    if isinstance(model, Mapping):
        layers = _layers_from_state_dict(model, parametrization)
        head = (num_classes, tau)
    else:
        layers, found, first_in_dim = read_modules(
            model, SOURCE, _module_layer, _SKIPPED,
            "LogicDense, GroupSum, Flatten; encode inputs to bits before the first layer")
        head = merge_head(found, num_classes, tau, SOURCE)
        num_inputs = first_in_dim if num_inputs is None else num_inputs
    return model_dict_from_layers(layers, num_inputs, *head, name=name, source=SOURCE,
                                  meta={"imported_from": SOURCE, **(meta or {})})


def _module_layer(module, where: str) -> ImportedLayer | None:
    """A LogicDense (it has `weight` and `connections`) discretized, else None."""
    if not (hasattr(module, "weight") and hasattr(module, "connections")):
        return None
    if "Dense" not in module_name(module):
        raise LgnError(f"{where}: only dense logic layers are supported (not convolutions)")
    kind = type(getattr(module, "parametrization", None)).__name__
    if kind not in _CLASS_NAMES:
        raise LgnError(f"{where}: unknown parametrization {kind}")
    return _layer(module.weight, _module_wiring(module.connections, where), _CLASS_NAMES[kind],
                  where)


def _module_wiring(connections, where: str):
    """The [rank, out] wiring of fixed connections, or the chosen one of learnable ones."""
    indices = getattr(connections, "indices", None)
    if indices is None:
        raise LgnError(f"{where}: its connections have no 'indices'")
    return _resolve(indices, getattr(connections, "weights", None), where)


def _resolve(indices, candidate_weights, where: str) -> np.ndarray:
    """Learnable connections: candidates [cand, rank, out], each slot takes the candidate
    with the largest weight; fixed connections are [rank, out] already."""
    indices = as_array(indices, f"{where} connections.indices")
    if candidate_weights is None:
        return indices
    weights = as_array(candidate_weights, f"{where} connections.weights")
    if indices.ndim != 3 or weights.shape != indices.shape:
        raise LgnError(f"{where}: learnable connections need weights and indices of one "
                       f"shape [candidates, rank, out], got {tuple(weights.shape)} and "
                       f"{tuple(indices.shape)}")
    chosen = weights.argmax(axis=0)
    return np.take_along_axis(indices, chosen[None], axis=0)[0]


def _layers_from_state_dict(state_dict: Mapping, parametrization) -> list[ImportedLayer]:
    """Every `<prefix>.weight` with a `<prefix>.connections.indices` is a logic layer."""
    prefixes = [key[:-len("weight")] for key in state_dict
                if str(key).endswith("weight") and not str(key).endswith("connections.weight")
                and f"{key[:-len('weight')]}connections.indices" in state_dict]
    if not prefixes:
        raise LgnError("torchlogix: the state_dict has no '<layer>.weight' with "
                       "'<layer>.connections.indices' entries (not a torchlogix state_dict?)")
    names = _parametrization_list(parametrization, len(prefixes))
    layers = []
    for prefix, given in zip(prefixes, names):
        where = f"torchlogix: logic layer '{prefix}weight'"
        wiring = _resolve(state_dict[f"{prefix}connections.indices"],
                          state_dict.get(f"{prefix}connections.weights"), where)
        weight = state_dict[f"{prefix}weight"]
        layers.append(_layer(weight, wiring, _state_dict_parametrization(
            given, weight, wiring, where), where))
    return layers


def _parametrization_list(parametrization, num_layers: int) -> list:
    """One name for every layer, or a list (or comma-separated string) of one per layer."""
    if parametrization is None:
        return [None] * num_layers
    if not isinstance(parametrization, (str, list, tuple)):
        names = [parametrization]
    else:
        names = parametrization.split(",") if isinstance(parametrization, str) \
            else list(parametrization)
    if len(names) == 1:
        names = names * num_layers
    unknown = [name for name in names if name not in PARAMETRIZATIONS]
    if unknown or len(names) != num_layers:
        raise LgnError(f"torchlogix parametrization {short(parametrization)}: give one of "
                       f"{', '.join(PARAMETRIZATIONS)}, or a comma-separated list of one "
                       f"per logic layer ({num_layers})")
    return names


def _state_dict_parametrization(given, weight, wiring, where: str) -> str:
    """raw when the shapes say so (16 logits on 2 inputs: light and warp have 2**rank
    columns), else the given light or warp."""
    shape, wiring_shape = tuple(np.shape(weight)), tuple(np.shape(wiring))
    if shape[-1:] == (16,) and wiring_shape[:1] == (2,):
        return "raw"
    if given in ("light", "warp"):
        return given
    raise LgnError(f"{where}: a state_dict does not say whether a layer is light or warp: "
                   "give the parametrization (--parametrization light|warp, or a "
                   "comma-separated list of one per layer)")


def _layer(weight, wiring, parametrization: str, where: str) -> ImportedLayer:
    """Discretize one layer exactly as torchlogix's eval forward does."""
    if parametrization == "raw":
        tables = op_weights_to_tables(weight, f"{where} weight")
        arity = 2
    else:
        array = finite_matrix(weight, f"{where} weight")
        arity = int(array.shape[1]).bit_length() - 1
        if array.shape[1] != 1 << arity or not 1 <= arity <= MAX_ARITY:
            raise LgnError(f"{where}: {parametrization} weight must have 2**rank columns "
                           f"(rank 1..{MAX_ARITY}), got {tuple(array.shape)}")
        if parametrization == "warp":
            array = array.astype(np.float32) @ _hadamard(arity)
            luts = array < 0
        else:
            luts = array > 0
        tables = msb_first_to_tables(luts)
    operands = wiring_matrix(wiring, len(tables), arity, f"{where} connections.indices")
    return ImportedLayer(operands, tables, f"torchlogix-{parametrization}")


def _hadamard(arity: int) -> np.ndarray:
    """Sylvester's Hadamard matrix of size 2**arity: H[i, j] = (-1)**popcount(i & j)."""
    size = np.arange(1 << arity)
    parity = np.vectorize(lambda v: int(v).bit_count() & 1)(size[:, None] & size[None, :])
    return (1 - 2 * parity).astype(np.float32)
