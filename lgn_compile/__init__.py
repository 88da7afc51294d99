"""lgn-compile: trained differentiable logic gate networks to Verilog, C and Python.

Pipeline, one module or package per stage: model_file (load) -> ir -> passes -> backends
-> verify.
"""

__version__ = "0.1.0"
