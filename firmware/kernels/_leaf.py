"""`njit_leaf`: the numba options of `firmware._jit` for per-spectrum helper kernels that
never allocate an array, compiled without the numba runtime's reference counting.

Why: numba increments and decrements (atomically) the reference count of every array a
compiled function receives, on entry and on exit, unless the call is inlined. The band and
tree helpers are called several times per spectrum with 5–10 arrays each: on the band
analysis those atomic operations were 25 % of the time (perf, numba 0.68). A function that
only reads and writes arrays it was given needs no reference counting; `_nrt=False`
(numba's switch for code without the runtime) drops it. Such a function must not create,
return or keep an array (`np.empty`, `np.median`, ... fail to compile there); views and
slices are fine.
"""

from __future__ import annotations

from firmware._jit import njit_leaf

__all__ = ["njit_leaf"]
