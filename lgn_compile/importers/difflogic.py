"""Import a network trained with difflogic (github.com/Felix-Petersen/difflogic).

difflogic's model is `nn.Sequential(Flatten(), LogicLayer(...), ..., GroupSum(k, tau))`:

- `LogicLayer.weights`: logits [out, 16], one per op in difflogic's order (bin_op in
  difflogic/functional.py: 0 FALSE, 1 AND, ... 15 TRUE); the eval forward uses the argmax.
- `LogicLayer.indices`: the wiring `(a, b)`, two int64 vectors [out] into the previous
  layer's outputs (the first layer reads the flattened input bits). They are plain
  attributes, NOT in `state_dict()`: a state dict alone has no wiring, and loading it into
  a freshly built difflogic net silently gives that net's new random wiring.
- `GroupSum(k, tau)`: class c scores `sum(outputs[c*n/k:(c+1)*n/k]) / tau` (contiguous
  groups, the same as ours; tau only scales the scores, argmax is unchanged).
"""

from __future__ import annotations

from collections.abc import Mapping

from lgn_compile.errors import LgnError
from lgn_compile.importers.common import (
    PASS_THROUGH,
    ImportedLayer,
    check_network,
    from_own_network,
    is_own_network,
    merge_head,
    model_dict_from_layers,
    op_weights_to_tables,
    read_modules,
    wiring_matrix,
)

SOURCE = "difflogic"
PARAMETRIZATION = "difflogic"  # config.layers[i].parametrization of an imported layer


def from_difflogic(model, indices=None, num_classes: int | None = None,
                   tau: float | None = None, num_inputs: int | None = None,
                   name: str = "difflogic_net", meta: dict | None = None) -> dict:
    """A difflogic network as our model-file dict (save it with model_file.save_model).

    `model` is the nn.Module (its LogicLayers carry their wiring), or its `state_dict()`
    together with `indices`: one `(a, b)` pair (or a [2, out] tensor) per LogicLayer, in
    order (`[layer.indices for layer in logic_layers]`); a state dict may also hold them as
    `<layer>.indices` entries. `num_classes`/`tau` are needed only without a GroupSum;
    `num_inputs` defaults to the first layer's `in_dim` (state dict: its largest index + 1).
    """
    check_network(model, SOURCE)
    if is_own_network(model):  # lgn_train's layers: its own export reads them exactly
        return from_own_network(model, name, meta or {})
    if isinstance(model, Mapping):
        layers, head = _layers_from_state_dict(model, indices), (num_classes, tau)
    else:
        if indices is not None:
            raise LgnError("difflogic: indices are taken from the module's LogicLayers; pass "
                           "them only with a state_dict")
        layers, found, first_in_dim = read_modules(model, SOURCE, _module_layer,
                                                   PASS_THROUGH, "LogicLayer, GroupSum, Flatten")
        head = merge_head(found, num_classes, tau, SOURCE)
        num_inputs = first_in_dim if num_inputs is None else num_inputs
    return model_dict_from_layers(layers, num_inputs, *head, name=name, source=SOURCE,
                                  meta={"imported_from": SOURCE, **(meta or {})})


def _module_layer(module, where: str) -> ImportedLayer | None:
    """A LogicLayer (it has `weights`) with its wiring, else None."""
    if not hasattr(module, "weights"):
        return None
    wiring = getattr(module, "indices", None)
    if wiring is None:
        raise LgnError(f"{where} has no 'indices' (its wiring (a, b)); import the trained "
                       "module itself, whose layers still carry them")
    return _layer(module.weights, wiring, where)


def _layers_from_state_dict(state_dict: Mapping, indices) -> list[ImportedLayer]:
    """Every `<prefix>.weights` entry is a LogicLayer, in the state dict's order."""
    prefixes = [key[:-len("weights")] for key in state_dict if str(key).endswith("weights")]
    if not prefixes:
        raise LgnError("difflogic: the state_dict has no '<layer>.weights' entries (not a "
                       "difflogic state_dict?)")
    if indices is not None and not isinstance(indices, (list, tuple)):
        raise LgnError(f"difflogic: indices must be a list of one (a, b) pair per LogicLayer, "
                       f"got {type(indices).__name__}")
    if indices is not None and len(indices) != len(prefixes):
        raise LgnError(f"difflogic: {len(indices)} index pairs given for {len(prefixes)} "
                       "LogicLayers (one (a, b) pair per layer, in order)")
    layers = []
    for i, prefix in enumerate(prefixes):
        where = f"difflogic: LogicLayer '{prefix}weights'"
        wiring = indices[i] if indices is not None else state_dict.get(f"{prefix}indices")
        if wiring is None:
            raise LgnError(f"{where} has no wiring: difflogic keeps LogicLayer.indices out of "
                           "state_dict(); pass indices=[layer.indices for each LogicLayer] "
                           "(command line: --indices FILE holding that list)")
        layers.append(_layer(state_dict[f"{prefix}weights"], wiring, where))
    return layers


def _layer(weights, wiring, where: str) -> ImportedLayer:
    tables = op_weights_to_tables(weights, f"{where} weights")
    operands = wiring_matrix(wiring, len(tables), 2, f"{where} indices")
    return ImportedLayer(operands, tables, PARAMETRIZATION)
