"""Benchmark fixtures: inputs, implementations and the extra_info every result records."""

from __future__ import annotations

import math
import os
import resource
import time
from pathlib import Path

import numba
import pytest

# A benchmark whose timed calls ran while the hypervisor took more than this share of the
# machine's CPU (steal time) is marked in the summary: on a shared 2-vCPU VM a 2-thread call
# then waits for its second vCPU, and its wall time says more about the neighbours than about
# the code.
STEAL_MARK_SHARE = 0.05
# ... and one whose calls spent more than this share in the kernel (system time): mapping and
# zeroing fresh output pages, which on this VM sometimes waits for the host to supply them
# (a survey call at 10^6 then takes 0.35–0.45 s of system time instead of ~0.07 s).
SYS_MARK_SHARE = 0.08
# Idle time before a benchmark is timed (after its set-up and the previous one). OpenBLAS worker
# threads keep spinning ~0.1 s after a BLAS call (the numpy twins multiply matrices); on 2
# vCPUs a spinning worker takes a core from the next benchmark's second numba thread, and a
# 2-thread call at N = 10^4 then took 6 ms instead of 2 on every other call (rounds 7 and 8:
# the stage at N = 10^4 ran at 0.7 x one thread). 0.25 s lets any pool go back to sleep.
SETTLE_S = 0.25


def record(benchmark, impl: str, n_spectra: int, n_bands: int, **extra) -> None:
    """Fill benchmark.extra_info: impl, n_spectra, n_bands, spectra_per_s (when timed)."""
    benchmark.extra_info.update(impl=impl, n_spectra=n_spectra, n_bands=n_bands, **extra)
    stats = getattr(benchmark, "stats", None)
    if stats is not None and getattr(stats, "stats", None) is not None:
        benchmark.extra_info["spectra_per_s"] = n_spectra / stats.stats.median


def run(benchmark, fn, n_spectra: int):
    """Time fn with a round count that keeps large N affordable on 2 cores, SETTLE_S after its
    set-up and the previous benchmark; record in extra_info the shares of the machine's
    CPU that went to steal and to the kernel during the timed calls (`disturbance`)."""
    rounds = max(3, min(15, int(3e6 // max(n_spectra, 1))))
    if not getattr(benchmark, "disabled", False):
        time.sleep(SETTLE_S)
    before = _usage()
    result = benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=1)
    benchmark.extra_info.update(disturbance(before, _usage(), os.cpu_count() or 1))
    return result


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


def steal_seconds(proc_stat: str, ticks_per_s: float) -> float:
    """CPU seconds the hypervisor took from this machine's vCPUs (summed) since boot: the
    8th value of the `cpu` line of /proc/stat (user nice system idle iowait irq softirq
    steal ...), in USER_HZ ticks. NaN when the line or the field is missing."""
    for line in proc_stat.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            return int(fields[8]) / ticks_per_s if len(fields) > 8 else math.nan
    return math.nan


def _usage() -> tuple[float, float, float]:
    """(wall s, steal s of the whole machine, system CPU s of this process) now."""
    try:
        steal = steal_seconds(Path("/proc/stat").read_text(), os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError):
        steal = math.nan
    return time.perf_counter(), steal, resource.getrusage(resource.RUSAGE_SELF).ru_stime


def disturbance(before, after, cores: int) -> dict:
    """{'steal_share', 'sys_share'}: steal and this process's system time between two
    `_usage()` readings, each ÷ (wall × cores); a share that cannot be read is left out."""
    span = (after[0] - before[0]) * cores
    if span <= 0:
        return {}
    shares = {"steal_share": (after[1] - before[1]) / span, "sys_share": (after[2] - before[2]) / span}
    return {k: round(v, 4) for k, v in shares.items() if not math.isnan(v)}


_LOAD_AT_START = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def pytest_benchmark_update_machine_info(config, machine_info):
    """Record the 1-minute load average at the start and end of the run: on a shared machine
    the timings mean little without it (the summary prints it)."""
    end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    machine_info["assay_loadavg"] = f"{_LOAD_AT_START:.2f} / {end:.2f}"
