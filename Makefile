# Assay: `make run` and `make test` are all the set-up a fresh machine needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# CI runs every benchmark once, on small inputs, so the suite cannot rot (no timing there).
CI_BENCH_ENV := ASSAY_BENCH_SIZES=1000 ASSAY_BENCH_CUBE=32
# `make bench` sizes (the README table: up to 10^6 spectra, ~25 min on 2 cores).
ASSAY_BENCH_SIZES ?= 1000,10000,100000,1000000

.PHONY: install run test lint bench hil hil-bench pil clean clean-jit

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/assay run default

lint: $(STAMP)
	$(BIN)/ruff check .

test: lint
	$(CI_BENCH_ENV) $(BIN)/pytest benchmarks/ -q --benchmark-disable -p no:cacheprovider
	$(BIN)/pytest -q

# Full benchmark run (sizes: ASSAY_BENCH_SIZES, default 1e3 … 1e6),
# with the optional peers (spectral, scikit-learn), then the summary table.
bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	mkdir -p .benchmarks
	ASSAY_BENCH_SIZES=$(ASSAY_BENCH_SIZES) $(BIN)/pytest benchmarks/ -q --benchmark-json=.benchmarks/latest.json
	$(BIN)/python -m benchmarks.summary .benchmarks/latest.json

# Hardware in the loop: the HIL suite and the board-in-the-loop missions against a port
# (HIL_PORT or --port, default the virtual board); the link throughput/latency at 115200 baud
# on the throttled virtual board; a 6-hour mission classified on the virtual board.
hil: $(STAMP)
	$(BIN)/pytest tests/hil -q
	$(BIN)/pytest -m hil tests/sim -q

pil: $(STAMP)
	$(BIN)/assay run default --duration 6h --board vboard:

hil-bench: $(STAMP)
	$(BIN)/assay hil bench --port 'vboard:?baud=115200' --frame-bytes 4000

# numba re-compiles a cached kernel only when its own file changes, not when a kernel it
# calls does: after editing a kernel that others call, drop the on-disk cache.
clean-jit:
	find firmware -name '*.nb[ic]' -delete

clean: clean-jit
	rm -rf $(VENV) runs .pytest_cache .benchmarks
