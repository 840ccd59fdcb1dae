# `make demo` and `make test` set everything up themselves on a fresh clone (Python 3.11+).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup compile demo test lint format bench data clean

$(STAMP): pyproject.toml
	@echo "setting up $(VENV) (pip log: $(VENV)/install.log)"
	@$(PY) -m venv $(VENV)
	@( $(BIN)/python -m pip install --upgrade pip && $(BIN)/python -m pip install -e '.[dev]' ) \
		> $(VENV)/install.log 2>&1 || { tail -n 30 $(VENV)/install.log; exit 1; }
	@touch $(STAMP)

# bytecode for the package, as `pip install` writes it for an installed one: an editable
# checkout under PYTHONDONTWRITEBYTECODE would compile every module at every start
compile: $(STAMP)
	@$(BIN)/python -m compileall -q pipeline > /dev/null

setup: $(STAMP)

demo: compile
	$(BIN)/pipeline run configs/demo.toml

test: $(STAMP)
	$(BIN)/ruff check pipeline tests scripts bench
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check pipeline tests scripts bench

format: $(STAMP)
	$(BIN)/ruff format pipeline tests scripts bench

# make bench SCALE_ARGS="--sizes 2000 20000" for a quick scale run (a minute or two)
SCALE_ARGS ?=
bench: compile
	$(BIN)/python bench/bench_pipeline.py
	$(BIN)/python bench/bench_ratelimits.py
	$(BIN)/python bench/bench_scale.py $(SCALE_ARGS)

data: $(STAMP)
	$(BIN)/python scripts/make_demo_data.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
