"""Importers: networks trained with other DLGN libraries, as our model-file dict.

    from_difflogic(module_or_state_dict, indices=..., ...)   # difflogic LogicLayer/GroupSum
    from_torchlogix(module_or_state_dict, ...)               # torchlogix LogicDense/GroupSum
    import_file("difflogic", "net.pt", output, ...)          # `lgn-compile import`

Each importer reads the foreign network's wiring and discretized gates into our encoding
(common.ImportedLayer) and builds the model file with model_file's format, so the compiler
and every backend treat an imported network like one trained by lgn-train.
"""

from __future__ import annotations

from pathlib import Path

from lgn_compile.errors import LgnError
from lgn_compile.importers.common import load_torch_file
from lgn_compile.importers.difflogic import from_difflogic
from lgn_compile.importers.torchlogix import from_torchlogix

IMPORTERS = {"difflogic": from_difflogic, "torchlogix": from_torchlogix}


def import_file(source: str, path: str | Path, trust_pickle: bool = False,
                indices_path: str | Path | None = None, **options) -> dict:
    """Read a torch file (a state dict, or with `trust_pickle` a whole pickled module) and
    import it; `indices_path` is a torch file with difflogic's per-layer wiring list."""
    raw = load_torch_file(path, trust_pickle)
    if indices_path is not None:
        if source != "difflogic":
            raise LgnError("--indices is for difflogic state dicts (torchlogix keeps its "
                           "wiring in the state dict)")
        options["indices"] = load_torch_file(indices_path, trust_pickle=False)
    options["meta"] = {"imported_file": Path(path).name}
    return IMPORTERS[source](raw, **options)
