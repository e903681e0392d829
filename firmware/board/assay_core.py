"""Fixed-point Bus-DeMeo core: normalise, slope, slope removal, PCA (MicroPython).

The integer form of `firmware.kernels.demeo` up to the tree: hold missing grid ends,
normalise at 0.55 µm, least-squares slope, divide out the slope line, project on the five PC′
eigenvectors; `assay_tree` walks the decision tree. Small on purpose: these two and
`assay_model` are what a micro:bit (16 KB RAM, ~9 KB free heap) carries. Its parser holds a
whole module in RAM and needs contiguous blocks, so the core is two small modules, internal
numbers are `const()` (no RAM), and the eigenvectors stay packed. `assay_bdm` adds the
thermal-tail test, tie-breaks and the C/X fallback.

Why integers: a board without an FPU (and a micro:bit with single-precision floats) gives the
same answer as CPython here, bit for bit, so the host can predict every board answer exactly.
Formats (value = integer / 2^Q): reflectance Q14, slope and PC′ Q24. Intermediates stay
within MicroPython's 31-bit small integers (no heap allocation) for normalised reflectance
below 4 and slopes below 1.6 µm⁻¹ — every developer spectrum (tests/hil/test_hil_fixed_point.py
checks); beyond that MicroPython promotes to long integers, still exact. Written for
MicroPython 1.9 and later (the micro:bit firmware): no f-strings, no keyword arguments.
"""

# ruff: noqa: UP031 — MicroPython 1.9 (the micro:bit firmware) has no f-strings

import struct

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


if "." in __name__:  # CPython: imported as firmware.board.assay_core
    from . import assay_model as M
else:  # on the board: flat modules
    import assay_model as M

# status codes (0–2 as firmware.kernels.demeo; 5, 6 are board-only)
OK, NO_COVERAGE, BAD_NORMALISATION = 0, 1, 2
OUT_OF_RANGE = 5  # the slope line crosses zero on the grid (slope < −0.52 µm⁻¹), or inf input
NO_TEMPLATES = 6  # the tree needs a tie-break or fallback but assay_tpl is not on the board
INT16_MISSING = -32768

# Number formats (assay_model.Q_R, Q_PC: checked by tests/hil/test_hil_model.py).
_Q_R = const(14)  # reflectance Q14
_Q_PC = const(24)  # slope and PC′ Q24
_Q_LINE = const(20)  # the slope line 1 + slope·(λ − 0.55 µm), Q20
ONE = 1 << _Q_R
# 41-point grid: x = 0.45 µm + i·0.05 µm, i = 0..40; 0.55 µm is i = 2. Σ(i − 20)² = 5740,
# so the LSQ slope in µm⁻¹ is Σ(i − 20)·r_i / (5740 · 0.05) = Σ(i − 20)·r_i / 287.
_N = const(41)
_I055 = const(2)
_CENTRE = const(20)
_STEP_INV = const(20)  # 1 / 0.05 µm
_SLOPE_DEN = const(287)
_N_COEF = const(40)  # PCA coefficients: the grid without 0.55 µm

MEAN = struct.unpack("<40h", M.MEAN)


def rdiv(a, b):
    """a / b rounded half up, for b > 0 (floor division, the same on every port)."""
    return (a + (b >> 1)) // b


def fill_edges(v):
    """Hold the edge value over at most MAX_EDGE_STEPS missing (None) points at either end.

    In place. Returns the number of points filled, or −1 if a gap remains."""
    n = len(v)
    first = -1
    last = -1
    for i in range(n):
        if v[i] is not None:
            if first < 0:
                first = i
            last = i
    if first < 0 or first > M.MAX_EDGE_STEPS or n - 1 - last > M.MAX_EDGE_STEPS:
        return -1
    for i in range(first):
        v[i] = v[first]
    for i in range(last + 1, n):
        v[i] = v[last]
    for x in v:
        if x is None:
            return -1
    return first + n - 1 - last


def normalise_int(q):
    """Integers on the grid (any common scale; INT16_MISSING = no data) → (status, Q14, filled)."""
    v = [None if x == INT16_MISSING else x for x in q]
    filled = fill_edges(v)
    if filled < 0:
        return NO_COVERAGE, None, 0
    r55 = v[_I055]
    if r55 <= 0:
        return BAD_NORMALISATION, None, filled
    half = r55 >> 1
    return OK, [((x << _Q_R) + half) // r55 for x in v], filled


def slope_q24(rn):
    """Unconstrained least-squares slope of Q14 reflectance vs wavelength, µm⁻¹ in Q24."""
    s = 0
    for i in range(_N):
        s += (i - _CENTRE) * rn[i]
    a, rem = divmod(s, _SLOPE_DEN)
    return (a << (_Q_PC - _Q_R)) + rdiv(rem << (_Q_PC - _Q_R), _SLOPE_DEN)


def remove_slope(rn, slope):
    """r′_i = r_i / (1 + slope·(λ_i − 0.55 µm)), Q14; None if the line is ≤ 0 somewhere.

    The line is held in Q20 (a Q14 line alone would add a systematic 3e-5 relative error to
    every r′); the quotient is a two-step long division so no step exceeds 31 bits."""
    out = []
    den_scale = _STEP_INV << (_Q_PC - _Q_LINE)
    for i in range(_N):
        d = (1 << _Q_LINE) + rdiv(slope * (i - _I055), den_scale)
        if d <= 0:
            return None
        a, rem = divmod(rn[i] << _Q_R, d)  # r·2^14/d = r′_q14 / 2^(Q_LINE − Q_R)
        out.append((a << (_Q_LINE - _Q_R)) + rdiv(rem << (_Q_LINE - _Q_R), d))
    return out


def pc_scores(rp):
    """PC′1..5 = Σ_j e_kj·(r′_j − mean_j) over the grid without 0.55 µm, Q24 (Q28 sums)."""
    d = [rp[i] - MEAN[j] for j, i in enumerate(i for i in range(_N) if i != _I055)]
    out = []
    for k in range(M.N_PC):
        acc = -M.PC_CORR[k]
        e = struct.unpack_from("<40h", M.EIG, 2 * _N_COEF * k)
        for j in range(_N_COEF):
            acc += e[j] * d[j]
        out.append((acc + (1 << ((2 * _Q_R - _Q_PC) - 1))) >> (2 * _Q_R - _Q_PC))
    return out
