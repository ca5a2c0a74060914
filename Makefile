# Fresh machine: `make run` (main job) and `make test` (test suite) create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.srkit-installed

.PHONY: run test lint venv clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/srkit upscale src/srkit/assets/coffee.png --scale 2 -o outputs --overwrite

test: lint
	$(BIN)/python -m pytest -n 2 -q

# Style and complexity (ruff), import layers and cycles (import-linter, contracts in pyproject.toml),
# static types (mypy with the pydantic plugin, zero errors on src/).
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/lint-imports
	$(BIN)/mypy

clean:
	rm -rf $(VENV) outputs
