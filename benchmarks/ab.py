"""One-thread A/B timing of the survey or the Bus-DeMeo stage, for kernel work.

    python -m benchmarks.ab [survey|stage|report] [N]

Prints the min, first quartile and median time per spectrum over 25 calls on one thread
(N spectra of `benchmarks.data.make_inputs`, default 2·10^5). On a shared 2-vCPU VM the
2-thread wall time of a call moves by ±20 % with the host's steal time while its CPU time
does not; one thread at this N is stable to about ±1 %, enough to see a 1 % change. Run it
before and after an edit (`make clean-jit` first when a kernel other kernels call changed);
the suite (`make bench`) stays the reference for the README table.
"""

from __future__ import annotations

import sys
import time

import numba

from benchmarks.data import make_inputs
from firmware import bands, busdemeo

CALLS = 25
PIPELINES = {  # name → the public call it times, on (axis µm, spectra)
    "survey": bands.survey_batch,
    "stage": busdemeo.classify_classes,
    "report": busdemeo.classify_batch,
}


def prepared_call(argv: list[str]):
    """(pipeline name, N, a warmed-up call of it on N benchmark spectra on one thread) from
    `[survey|stage|report] [N]`; None (after saying why) for an unknown pipeline. Shared with
    `benchmarks.perfmap`."""
    what = argv[0] if argv else "survey"
    n = int(float(argv[1])) if len(argv) > 1 else 200_000
    if what not in PIPELINES:
        print(f"unknown pipeline {what!r}: pick one of {', '.join(PIPELINES)}", file=sys.stderr)
        return None
    axis, x, _ = make_inputs(n)

    def fn():
        return PIPELINES[what](axis, x)

    numba.set_num_threads(1)
    fn()  # compile or load the cache, fault in the input
    return what, n, fn


def main(argv: list[str]) -> int:
    prepared = prepared_call(argv)
    if prepared is None:
        return 2
    what, n, fn = prepared
    times = []
    for _ in range(CALLS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    ns = [t / n * 1e9 for t in (times[0], times[CALLS // 4], times[CALLS // 2])]
    print(f"{what}, N = {n}, 1 thread, {CALLS} calls: min {ns[0]:.0f} ns, q25 {ns[1]:.0f} ns, "
          f"median {ns[2]:.0f} ns per spectrum")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
