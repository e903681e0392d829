"""Whole-system measurements: JIT cost, peak memory, scaling with bands, an image cube."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from benchmarks.conftest import record, run
from benchmarks.data import cube_side, make_inputs, sizes
from firmware import busdemeo

REPO = Path(__file__).resolve().parents[1]

_FIRST_CALL = """
import time, json, numpy as np
t0 = time.perf_counter()
from firmware.busdemeo import classify_batch
from benchmarks.data import make_inputs
axis, x, _ = make_inputs(1000)
t1 = time.perf_counter()
classify_batch(axis, x)
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "first_call_s": t2 - t1}))
"""


def _first_call(cache_dir: str) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", _FIRST_CALL], env=env, cwd=REPO,
                         capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_jit_cost_cold_and_warm_cache(benchmark):
    """First classification in a fresh process, with an empty and with a warm numba cache.
    Reported in extra_info, never asserted (wall-clock on a shared machine)."""
    benchmark.group = "jit: first call in a fresh process"
    with tempfile.TemporaryDirectory() as cache:
        cold = _first_call(cache)
        warm = benchmark.pedantic(lambda: _first_call(cache), rounds=3, iterations=1)
    record(benchmark, "numba", 1000, 120, cold_first_call_s=cold["first_call_s"],
           warm_first_call_s=warm["first_call_s"], warm_import_s=warm["import_s"])  # fmt: skip


_PEAK = """
import gc, json, sys
from firmware.busdemeo import classify_batch
from benchmarks.data import make_inputs

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024

n = int(sys.argv[1])
axis, x, _ = make_inputs(n)
classify_batch(axis, x[:100])          # compile / load outside the measurement
make_inputs.cache_clear(); gc.collect()
with open("/proc/self/clear_refs", "w") as fh:   # reset the peak-RSS mark (Linux)
    fh.write("5")
before = status("VmRSS:")
r = classify_batch(axis, x)
peak = status("VmHWM:")
print(json.dumps({"input_bytes": x.nbytes, "peak_extra_bytes": max(peak - before, 0)}))
"""


@pytest.mark.parametrize("n", [max(sizes())])
def test_peak_memory_of_the_batch_api(benchmark, n):
    """Peak resident memory the batch call adds, as a ratio to the input array (target ≤ 2).
    Measured from the kernel's peak RSS (VmHWM, reset just before the call), Linux only."""
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("peak-RSS reset needs Linux /proc/self/clear_refs")
    benchmark.group = "memory: peak extra RSS / input bytes"
    env = dict(os.environ, PYTHONPATH=str(REPO))

    def measure():
        out = subprocess.run([sys.executable, "-c", _PEAK, str(n)], env=env, cwd=REPO,
                             capture_output=True, text=True, check=True)  # fmt: skip
        return json.loads(out.stdout.strip().splitlines()[-1])

    m = benchmark.pedantic(measure, rounds=1, iterations=1)
    record(benchmark, "numba", n, 120, input_bytes=m["input_bytes"],
           peak_extra_bytes=m["peak_extra_bytes"],
           peak_ratio=m["peak_extra_bytes"] / m["input_bytes"])  # fmt: skip


@pytest.mark.parametrize("n_bands", [60, 120, 240, 480])
def test_scaling_with_bands(benchmark, n_bands):
    benchmark.group = "scaling: bands (N = 10^4)"
    axis, x, _ = make_inputs(10_000, n_bands)
    run(benchmark, lambda: busdemeo.classify_batch(axis, x), 10_000)
    record(benchmark, "numba", 10_000, n_bands)


def test_image_cube_per_pixel(benchmark):
    """A side × side × 120 band-interleaved-by-pixel cube classified per pixel (a free reshape)."""
    side = cube_side()
    if side <= 0:
        pytest.skip("ASSAY_BENCH_CUBE=0: cube benchmark disabled")
    benchmark.group = "cube: H × W × B (BIP) per pixel"
    axis, x, _ = make_inputs(side * side)
    cube = x.reshape(side, side, x.shape[1])  # the BIP layout, as an instrument writes it

    def classify_cube():
        r = busdemeo.classify_batch(axis, cube.reshape(-1, cube.shape[2]))
        return r.class_index.reshape(side, side)

    class_map = run(benchmark, classify_cube, side * side)
    record(benchmark, "numba", side * side, x.shape[1], cube=f"{side}x{side}x{x.shape[1]}")
    assert class_map.shape == (side, side)
