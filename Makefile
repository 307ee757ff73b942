# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	OPERANDO_HOME=$${OPERANDO_HOME:-$(CURDIR)/var/demo} $(BIN)/operando demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -rs --durations=25 -p no:cacheprovider -n 3 --dist loadfile tests

bench: $(STAMP)
	$(BIN)/python benchmarks/stream_planes.py
	$(BIN)/python benchmarks/analyse_stack.py
	$(BIN)/python benchmarks/query_runs.py
	$(BIN)/python benchmarks/camera_rate.py
	$(BIN)/python benchmarks/soak.py
	$(BIN)/python benchmarks/batch_analyze.py

clean:
	rm -rf $(VENV) var
