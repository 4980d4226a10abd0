# edge-harness: `make demo` and `make test` are the two commands a fresh machine needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install demo test bench lint clean models

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)  ## venv in .venv with an editable install and the dev extras

demo: $(STAMP)  ## the demo plans on simulated targets: wake-word models, then the trained DS-CNN float vs int8
	$(BIN)/harness run --plan plans/demo.yaml
	$(BIN)/harness run --plan plans/demo-kws12.yaml

test: $(STAMP)  ## the test suite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)  ## benchmark figures -> results/bench.json
	$(BIN)/python -m bench.run

models: $(STAMP)  ## retrain the reference DS-CNN (models/dscnn-kws12*) from scratch; needs the [train] extra
	@$(BIN)/python -c "import torch" 2>/dev/null || { echo "make models needs PyTorch: $(BIN)/python -m pip install torch==2.13.0 && $(BIN)/python -m pip install -e '.[train]'" >&2; exit 1; }
	$(BIN)/python models/training/train_dscnn.py --out models

lint: $(STAMP)
	$(BIN)/ruff check harness tests bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
