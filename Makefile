# Two commands after cloning: `make demo` and `make test`. Both create .venv and install the project if needed.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WORKERS ?= 2

.PHONY: demo test test-slow bench notebooks clean setup

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "error: $(PY) not found; install Python >= 3.11 or run 'make PY=python3.12 ...'"; exit 1; }
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,baselines,projects]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m vision_jax.main --config=configs/pinn_denoise/default.py:small --workdir=runs/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(WORKERS) --durations=15

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_pde.py

notebooks: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[notebooks]"
	$(BIN)/python -m jupyter lab notebooks/

clean:
	rm -rf runs .pytest_cache
