# Two commands after cloning: `make demo` and `make test`. Both create .venv and install the project if needed.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WORKERS ?= 2

.PHONY: demo test test-slow bench notebooks clean setup weights weights-per-sigma

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "error: $(PY) not found; install Python >= 3.11 or run 'make PY=python3.12 ...'"; exit 1; }
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,baselines,projects]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m vision_jax.main --config=configs/pinn_denoise/demo.py --workdir=runs/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(WORKERS) --durations=15

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_pde.py

# The shipped denoiser weights (vision_jax/weights/tnrd_blind.npz) from a folder of training images:
#   make weights TRAIN=../shared/data/denoise/Train400
# trains configs/denoise/tnrd_blind.py in $(WEIGHTS_WORKDIR) (resumes if interrupted), exports it, copies it in.
TRAIN ?=
WEIGHTS_WORKDIR ?= runs/weights-tnrd_blind
WEIGHTS_RUN = $(BIN)/python -m vision_jax.main --config=configs/denoise/tnrd_blind.py --workdir=$(WEIGHTS_WORKDIR) \
	--config.data.train_dir=$(TRAIN)
weights: $(STAMP)
	@test -n "$(TRAIN)" || { echo "error: make weights needs TRAIN=<folder of training images>, e.g. TRAIN=../shared/data/denoise/Train400"; exit 1; }
	@test -d "$(TRAIN)" || { echo "error: TRAIN=$(TRAIN) is not a folder; expected the Train400 images"; exit 1; }
	$(WEIGHTS_RUN)
	$(WEIGHTS_RUN) --mode=export
	mkdir -p vision_jax/weights
	cp $(WEIGHTS_WORKDIR)/tnrd_blind.npz vision_jax/weights/tnrd_blind.npz
	@echo "vision_jax/weights/tnrd_blind.npz updated; tests/test_denoise_api.py checks the PSNR it recorded"

# One-level TNRD-7x7x48 weights (vision_jax/weights/tnrd7_s<sigma>.npz): greedy, then 9000 joint steps per
# sigma (about 110 CPU minutes each, one core; resumes), in the issue-10 benchmark's workdir. The shipped
# files are sigma 25 and 50; SIGMAS=15,25,50 adds sigma 15.
SIGMAS ?= 25,50
weights-per-sigma: $(STAMP)
	@test -d "$(TRAIN)" || { echo "error: make weights-per-sigma needs TRAIN=<folder of training images>, e.g. TRAIN=../shared/data/denoise/Train400"; exit 1; }
	$(BIN)/python benchmarks/bench_denoise.py --train_dir $(TRAIN) --models tnrd7 --sigmas $(SIGMAS) \
		--set tnrd7:train.steps=9000 --workdir runs/bench_denoise_9000 --train_only --export_to vision_jax/weights

notebooks: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[notebooks]"
	$(BIN)/python -m jupyter lab notebooks/

clean:
	rm -rf runs .pytest_cache
