"""Benchmark fixtures: inputs, implementations and the extra_info every result records."""

from __future__ import annotations

import os

import numba
import pytest


def record(benchmark, impl: str, n_spectra: int, n_bands: int, **extra) -> None:
    """Fill benchmark.extra_info: impl, n_spectra, n_bands, spectra_per_s (when timed)."""
    benchmark.extra_info.update(impl=impl, n_spectra=n_spectra, n_bands=n_bands, **extra)
    stats = getattr(benchmark, "stats", None)
    if stats is not None and getattr(stats, "stats", None) is not None:
        benchmark.extra_info["spectra_per_s"] = n_spectra / stats.stats.median


def run(benchmark, fn, n_spectra: int):
    """Time fn with a round count that keeps large N affordable on 2 cores."""
    rounds = max(3, min(15, int(3e6 // max(n_spectra, 1))))
    return benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=1)


def numpy_baseline_up_to(n: int, max_n: int, cost: str) -> None:
    """Skip a numpy-twin benchmark above `max_n` spectra (it would take minutes: `cost` per
    spectrum); the summary scales its time per spectrum to larger N (marked †)."""
    if n > max_n:
        pytest.skip(f"numpy baseline limited to N ≤ {max_n} ({cost} per spectrum)")


@pytest.fixture(params=["numba", "numba-1t"])
def numba_impl(request):
    """Run the numba kernels on all threads ("numba") or one ("numba-1t")."""
    previous = numba.get_num_threads()
    numba.set_num_threads(1 if request.param == "numba-1t" else numba.config.NUMBA_NUM_THREADS)
    yield request.param
    numba.set_num_threads(previous)


_LOAD_AT_START = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def pytest_benchmark_update_machine_info(config, machine_info):
    """Record the 1-minute load average at the start and end of the run: on a shared machine
    the timings mean little without it (the summary prints it)."""
    end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    machine_info["assay_loadavg"] = f"{_LOAD_AT_START:.2f} / {end:.2f}"
