"""The one place that sets numba options for every kernel of the spectral core.

Kernels import `njit_serial` / `njit_parallel` from here so that caching, fastmath and
error-model choices are made once. `cache=True` makes a second process load the compiled
machine code from `__pycache__` instead of paying the JIT again.

Kernels must never call `numba.get_num_threads()` inside an `@njit` body: that makes them
uncacheable (numba 0.68, see shared/notes/performance.md §2).
"""

from __future__ import annotations

import numba

# Only the fast-math flags that keep NaN/inf semantics: NaN travels as "missing" through
# every kernel, so 'nnan'/'ninf' (and thus fastmath=True) are never allowed. 'reassoc' lets
# LLVM vectorise sums (results change in the last bits only); 'contract' allows fused
# multiply-add.
_COMMON = dict(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc", "contract"})

njit_serial = numba.njit(**_COMMON)
njit_parallel = numba.njit(parallel=True, **_COMMON)
# Per-spectrum helpers that never allocate an array: compiled without the numba runtime's
# reference counting (`_nrt=False`). numba increments and decrements (atomically) the
# reference count of every array a compiled function receives, on entry and on exit, unless
# the call is inlined; the band and tree helpers are called several times per spectrum with
# 5–10 arrays each, and those atomics were 25 % of the band analysis under perf (numba 0.68).
# Such a function must not create, return or keep an array (`np.empty`, `np.median`, ... do
# not compile there); views and slices are fine.
njit_leaf = numba.njit(_nrt=False, **_COMMON)
# A leaf helper whose sums must keep their written order, bit for bit, to agree with another
# kernel that computes the same sums (`firmware.kernels.mixnorm_knn.exact_distance`): fused
# multiply-add allowed, reassociation not.
njit_ordered = numba.njit(_nrt=False, **{**_COMMON, "fastmath": {"contract"}})
prange = numba.prange


def set_threads(n: int | None) -> int:
    """Set the numba thread count for parallel kernels (None = all cores); return the previous."""
    previous = numba.get_num_threads()
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS if n is None else int(n))
    return previous
