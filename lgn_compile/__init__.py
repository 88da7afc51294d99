"""lgn-compile: trained differentiable logic gate networks to Verilog, C and Python.

`lgn_compile.compile(model, targets, out_dir)` is the whole compiler in one call (api.py).
Pipeline, one module or package per stage: model_file (load) -> ir -> passes -> backends
-> verify. Networks trained elsewhere come in through importers (`from_difflogic`,
`from_torchlogix`), which return a model-file dict.
"""

__version__ = "0.1.0"

from lgn_compile.api import Compiled, compile  # noqa: A004 -- the package's verb, like hls4ml
from lgn_compile.importers import from_difflogic, from_torchlogix

__all__ = ["__version__", "compile", "Compiled", "from_difflogic", "from_torchlogix"]
