"""4×4 linear algebra of the MCFA kernels (`firmware.kernels.mcfa`): Cholesky, triangular
solve and Bₖ = I + FᵀAF.

The size is the model's number of latent factors, Q = 4 (Mahlke et al. 2022), a compile-time
constant here so that LLVM unrolls these loops into registers: with the size read from the
arrays at run time the MCFA stage took 8.0 µs per spectrum on one core, with Q 5.3 µs
(issue 5, round 6). Unrolled, LLVM may reassociate the short sums (`_jit`'s 'reassoc'): the
results moved by ≤ 1e-12 and no class changed (52 k spectra). `mcfa.score` refuses a model
with another number of factors.
"""

from __future__ import annotations

import numpy as np

from firmware._jit import njit_leaf

Q = 4  # latent factors of the Mahlke 2022 MCFA


@njit_leaf
def cholesky4(b, c):
    """Cholesky factor c (lower) of the 4×4 SPD matrix b; returns log det b."""
    q = Q
    logdet = 0.0
    for i in range(q):
        for j in range(i + 1):
            s = b[i, j]
            for m in range(j):
                s -= c[i, m] * c[j, m]
            if i == j:
                c[i, i] = np.sqrt(s)
                logdet += np.log(s)
            else:
                c[i, j] = s / c[j, j]
        for j in range(i + 1, q):
            c[i, j] = 0.0
    return logdet


@njit_leaf
def solve_lower(c, u, v):
    """v = c⁻¹u for lower-triangular c."""
    for i in range(Q):
        s = u[i]
        for m in range(i):
            s -= c[i, m] * v[m]
        v[i] = s / c[i, i]


@njit_leaf
def factor_b(a, f, af, bk, ck):
    """Cholesky ck of Bₖ = I + FᵀAF (af = AF is scratch); returns log det Bₖ."""
    q = Q
    for m in range(q):
        for j in range(q):
            t = 0.0
            for n in range(q):
                t += a[m, n] * f[n, j]
            af[m, j] = t
    for i in range(q):
        for j in range(i + 1):
            t = 0.0
            for m in range(q):
                t += f[m, i] * af[m, j]
            bk[i, j] = t + (1.0 if i == j else 0.0)
            bk[j, i] = bk[i, j]
    return cholesky4(bk, ck)
