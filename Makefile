# Assay: `make run` and `make test` are all the set-up a fresh machine needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# CI runs every benchmark once, on small inputs, so the suite cannot rot (no timing there).
CI_BENCH_ENV := ASSAY_BENCH_SIZES=1000 ASSAY_BENCH_CUBE=32

.PHONY: install run test lint bench hil hil-bench clean

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

# Full benchmark run (sizes: ASSAY_BENCH_SIZES, default 1e3,1e4,1e5; add 1000000 for 10^6),
# with the optional peers (spectral, scikit-learn), then the summary table.
bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	mkdir -p .benchmarks
	$(BIN)/pytest benchmarks/ -q --benchmark-json=.benchmarks/latest.json
	$(BIN)/python -m benchmarks.summary .benchmarks/latest.json

# Hardware in the loop: the HIL suite against a port (HIL_PORT, default the virtual board),
# and the link throughput/latency at 115200 baud on the throttled virtual board.
hil: $(STAMP)
	$(BIN)/pytest tests/hil -q

hil-bench: $(STAMP)
	$(BIN)/assay hil bench --port 'vboard:?baud=115200' --frame-bytes 4000

clean:
	rm -rf $(VENV) runs .pytest_cache .benchmarks
