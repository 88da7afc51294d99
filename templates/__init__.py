"""Jinja2 templates of the emitted Verilog, C and Python (installed as lgn_compile.templates)."""
