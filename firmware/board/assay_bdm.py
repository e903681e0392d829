"""Fixed-point Bus-DeMeo classifier for MicroPython boards (also runs on CPython, bit-exact).

The host's float pipeline (`firmware.kernels.demeo.classify_one`) in integers: hold missing
grid ends, normalise at 0.55 µm, least-squares slope, divide out the slope line, project on
the five PC′ eigenvectors, walk the decision tree (thresholds from the generated table in
`assay_model`), break the A/D and C/X ties by correlation with slope-removed templates, and
fall back to the nearest C/X template (χ²) when the tree is indeterminate (`assay_tpl`).

Why integers: a board without an FPU (and a micro:bit with single-precision floats) gives the
same answer as CPython here, bit for bit, so the host can predict every board answer exactly.
Formats (value = integer / 2^Q): reflectance Q14, slope and PC′ Q24. Intermediates stay
within MicroPython's 31-bit small integers (no heap allocation) for normalised reflectance
below 4 and slopes below 1.6 µm⁻¹ — every developer spectrum; beyond that MicroPython
promotes to long integers, still exact. Written for MicroPython 1.9 and later (the micro:bit
firmware): no f-strings, no keyword arguments to builtins.
"""

# ruff: noqa: UP031 — MicroPython 1.9 (the micro:bit firmware) has no f-strings

try:
    import ustruct as struct
except ImportError:
    import struct

if "." in __name__:  # CPython: imported as firmware.board.assay_bdm
    from . import assay_model as M
else:  # on the board: flat modules
    import assay_model as M

# status codes (0–4 as firmware.kernels.demeo; 5, 6 are board-only)
OK, NO_COVERAGE, BAD_NORMALISATION = 0, 1, 2
OUT_OF_RANGE = 5  # the slope line crosses zero on the grid (slope < −0.52 µm⁻¹), or inf input
NO_TEMPLATES = 6  # the tree needs a tie-break or fallback but assay_tpl is not on the board
INT16_MISSING = -32768

ONE = 1 << M.Q_R
Q_LINE = 20  # the slope line 1 + slope·(λ − 0.55 µm), Q20
ONE_LINE = 1 << Q_LINE
SHIFT_PC = 2 * M.Q_R - M.Q_PC  # Q28 products → Q24 scores
# 41-point grid: x = 0.45 µm + i·0.05 µm. Σ(i − 20)² = 5740, so the LSQ slope in µm⁻¹ is
# Σ(i − 20)·r_i / (5740 · 0.05) = Σ(i − 20)·r_i / 287.
CENTRE = (M.N_GRID - 1) // 2
STEP_INV = 20  # 1 / 0.05 µm
SLOPE_DEN = sum((i - CENTRE) * (i - CENTRE) for i in range(M.N_GRID)) // STEP_INV

EIG = struct.unpack("<%di" % (len(M.EIG) // 4), M.EIG)
MEAN = struct.unpack("<%di" % (len(M.MEAN) // 4), M.MEAN)
N_COEF = len(MEAN)

_tpl = None


class Rows:
    """A little-endian int32 matrix kept packed in its bytes constant; a row is unpacked when
    used (the whole tables as tuples of ints would take ~10 KB more heap)."""

    def __init__(self, blob, width):
        self.blob = blob
        self.width = width
        self.fmt = "<%di" % width
        self.n = len(blob) // (4 * width)

    def __len__(self):
        return self.n

    def __getitem__(self, k):
        if not 0 <= k < self.n:
            raise IndexError(k)
        return struct.unpack_from(self.fmt, self.blob, 4 * self.width * k)


def _templates():
    """Load `assay_tpl` on first use (the micro:bit may carry only the core)."""
    global _tpl
    if _tpl is None:
        try:
            if "." in __name__:
                from . import assay_tpl as t
            else:
                import assay_tpl as t
        except ImportError:
            return None
        n = M.N_GRID
        m = len(t.TH_WHAT) // 4
        nt = len(t.TH_TEMPS_K)
        hat = ({t.HAT_CLASSES[k]: k for k in range(len(t.HAT_CLASSES))}, Rows(t.HAT, n))
        cx = (t.CX_CLASSES, Rows(t.CX_MEAN, n), Rows(t.CX_SIGMA, n))
        th = (Rows(t.TH_P, n), Rows(t.TH_UHAT, m), Rows(t.TH_WHAT, m)[0],
              Rows(t.TH_THR, nt)[0], Rows(t.TH_INV, nt)[0], t.TH_TEMPS_K)  # fmt: skip
        _tpl = (hat, cx, th)
    return _tpl


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
    r55 = v[M.I055]
    if r55 <= 0:
        return BAD_NORMALISATION, None, filled
    half = r55 >> 1
    return OK, [((x << M.Q_R) + half) // r55 for x in v], filled


def _round(x):
    return int(x + 0.5) if x >= 0 else -int(0.5 - x)


def normalise_float(f):
    """Floats on the grid (NaN = no data) → (status, Q14 normalised reflectance, filled)."""
    v = [None if x != x else x for x in f]
    filled = fill_edges(v)
    if filled < 0:
        return NO_COVERAGE, None, 0
    r55 = v[M.I055]
    if not r55 > 0:
        return BAD_NORMALISATION, None, filled
    try:
        return OK, [_round(x / r55 * ONE) for x in v], filled
    except (OverflowError, ValueError):
        return OUT_OF_RANGE, None, filled


def slope_q24(rn):
    """Unconstrained least-squares slope of Q14 reflectance vs wavelength, µm⁻¹ in Q24."""
    s = 0
    for i in range(M.N_GRID):
        s += (i - CENTRE) * rn[i]
    a, rem = divmod(s, SLOPE_DEN)
    return (a << (M.Q_PC - M.Q_R)) + rdiv(rem << (M.Q_PC - M.Q_R), SLOPE_DEN)


def remove_slope(rn, slope):
    """r′_i = r_i / (1 + slope·(λ_i − 0.55 µm)), Q14; None if the line is ≤ 0 somewhere.

    The line is held in Q20 (a Q14 line alone would add a systematic 3e-5 relative error to
    every r′); the quotient is a two-step long division so no step exceeds 31 bits."""
    out = []
    den_scale = STEP_INV << (M.Q_PC - Q_LINE)
    for i in range(M.N_GRID):
        d = ONE_LINE + rdiv(slope * (i - M.I055), den_scale)
        if d <= 0:
            return None
        a, rem = divmod(rn[i] << M.Q_R, d)  # r·2^14/d = r′_q14 / 2^(Q_LINE − Q_R)
        out.append((a << (Q_LINE - M.Q_R)) + rdiv(rem << (Q_LINE - M.Q_R), d))
    return out


def pc_scores(rp):
    """PC′1..5 = Σ_j e_kj·(r′_j − mean_j) over the grid without 0.55 µm, Q24 (Q28 sums)."""
    d = [rp[i] - MEAN[j] for j, i in enumerate(i for i in range(M.N_GRID) if i != M.I055)]
    out = []
    for k in range(M.N_PC):
        acc = -M.PC_CORR[k]
        base = k * N_COEF
        for j in range(N_COEF):
            acc += EIG[base + j] * d[j]
        out.append((acc + (1 << (SHIFT_PC - 1))) >> SHIFT_PC)
    return out


def _holds(x, op, t):
    if op == 0:
        return x < t
    if op == 1:
        return x <= t
    if op == 2:
        return x > t
    if op == 3:
        return x >= t
    return x != 0


def walk(rules, v):
    """First firing rule's action: class code (int), tie-break pair (c1, c2), or None."""
    for conds, action in rules:
        ok = True
        for j in range(0, len(conds), 3):
            if not _holds(v[conds[j]], conds[j + 1], conds[j + 2]):
                ok = False
                break
        if not ok:
            continue
        if type(action) is int:
            return action
        if type(action[0]) is int:
            return action
        found = walk(action, v)
        if found is not None:
            return found
    return None


def better(rp, c1, c2, rows):
    """c1 or c2: the slope-removed template that correlates better with r′ (Pearson)."""
    n = M.N_GRID
    mean = rdiv(sum(rp), n)
    dots = []
    index, hats = rows
    for c in (c1, c2):
        hat = hats[index[c]]
        acc = 0
        for i in range(n):
            acc += (rp[i] - mean) * hat[i]
        dots.append(acc)
    return c1 if dots[0] >= dots[1] else c2


def nearest_cx(rn, cx):
    """The C/X class whose template is nearest in χ² = Σ ((r − m)/σ)² (first of ties)."""
    best = -1
    best_chi = 0
    classes, means, sigmas = cx
    for k in range(len(classes)):
        c, mean, sig = classes[k], means[k], sigmas[k]
        chi = 0
        for i in range(M.N_GRID):
            z = rdiv((rn[i] - mean[i]) << M.Q_R, sig[i])  # Q14·2^14/Q20 = Q8
            chi += (z * z + 128) >> 8
        if best < 0 or chi < best_chi:
            best = c
            best_chi = chi
    return best


def band_i_gate(rn):
    """True if the spectrum may carry a thermal tail: no silicate Band I deeper than the
    host's MAX_BAND_I_DEPTH below the 0.75–1.50 µm continuum (exact integer comparison)."""
    f0, c0, c1, b0, b1 = M.TH_INDEX
    p1, q1 = M.TH_GATE  # 1 − MAX_BAND_I_DEPTH = p1 / q1
    span = c1 - c0
    for j in range(b0, b1 + 1):
        c = rn[c0] * span + (rn[c1] - rn[c0]) * (j - c0)  # continuum × span
        lhs = rn[j] * span * q1
        if (c > 0 and lhs <= p1 * c) or (c < 0 and lhs >= p1 * c) or (c == 0 and rn[j] < 0):
            return False
    return True


def thermal_tail(rn, th):
    """Detect a thermal tail and remove it from `rn` in place (firmware.kernels.thermal).

    Model over the fit range: line + A·P_T, T from the host's grid. With the line's residual
    res and, per T, û_T = the unit part of P_T orthogonal to the line, the least-squares
    residual is |res|² − (res·û_T)², A = (res·û_T)/|P_T ⟂ line|, σ_A = σ/|P_T ⟂ line|, and
    the parabola's residual is |res|² − (res·ŵ)². Residuals Q24, products Q48: these exceed
    31 bits (MicroPython long integers; only spectra that pass the Band I gate get here).
    Returns the temperature K of a removed tail, or 0."""
    f0 = M.TH_INDEX[0]
    n = M.N_GRID
    m = n - f0
    p_rows, u_rows, w_hat, thr, inv_norm, temps = th
    s0 = 0
    su = 0
    suu = 0
    for j in range(f0, n):
        u = 2 * j - (f0 + n - 1)
        s0 += rn[j]
        su += u * rn[j]
        suu += u * u
    den = m * suu
    res = [rdiv(((rn[j] * den - s0 * suu - m * su * (2 * j - (f0 + n - 1))) << 10), den)
           for j in range(f0, n)]  # fmt: skip
    ss_line = 0
    for x in res:
        ss_line += x * x
    best_k = -1
    best_d = 0
    for k in range(len(temps)):
        d = 0
        row = u_rows[k]
        for j in range(m):
            d += res[j] * row[j]
        d = rdiv(d, 1 << 24)
        if best_k < 0 or d * d > best_d * best_d:
            best_k, best_d = k, d
    dw = 0
    for j in range(m):
        dw += res[j] * w_hat[j]
    dw = rdiv(dw, 1 << 24)
    ss_best = ss_line - best_d * best_d
    ns_p, ns_q = M.TH_NSIG2  # N_SIGMA² = ns_p / ns_q
    if not (best_d >= thr[best_k] and best_d >= 0
            and best_d * best_d * max(m - 3, 1) * ns_q >= ns_p * max(ss_best, 0)
            and best_d * best_d > dw * dw):  # fmt: skip
        return 0
    a24 = rdiv(best_d * inv_norm[best_k], 1 << 24)
    p = p_rows[best_k]
    for j in range(n):
        rn[j] -= rdiv(a24 * p[j], 1 << 34)  # Q24·Q24 → Q14
    return temps[best_k]


def classify_norm(rn, flags, filled=0):
    """Classify Q14 reflectance normalised at 0.55 µm; flags bit 0 e, bit 1 h, bit 2 k.

    Returns (status, class index or −1, w, tree indeterminate, edge points filled,
    slope Q24, [PC′1..5] Q24, thermal tail temperature K removed or 0)."""
    thermal = 0
    if band_i_gate(rn):
        tpl = _templates()
        if tpl is None:
            return NO_TEMPLATES, -1, False, False, filled, 0, None, 0
        thermal = thermal_tail(rn, tpl[2])
    s = slope_q24(rn)
    rp = remove_slope(rn, s)
    if rp is None:
        return OUT_OF_RANGE, -1, False, False, filled, s, None, thermal
    pc = pc_scores(rp)
    p1, p2 = pc[0], pc[1]
    shift = M.Q_PC - M.Q_R
    v = (p1, p2, pc[2], pc[3], pc[4], s, rn[0] << shift, p1 + 3 * p2, 3 * p1 - p2,
         flags & 1, flags & 2, flags & 4)  # fmt: skip
    action = walk(M.TREE, v)
    indet = action is None
    if type(action) is int:
        cls = action % M.W_FLAG
        return OK, cls, action >= M.W_FLAG and s >= M.W_SLOPE, False, filled, s, pc, thermal
    tpl = _templates()
    if tpl is None:
        return NO_TEMPLATES, -1, False, indet, filled, s, pc, thermal
    if indet:
        cls = nearest_cx(rn, tpl[1])
    else:
        cls = better(rp, action[0], action[1], tpl[0])
    return OK, cls, False, indet, filled, s, pc, thermal


def classify_int(q, flags):
    """Classify 41 integers (INT16_MISSING = no data); see classify_norm for the result."""
    st, rn, filled = normalise_int(q)
    if st != OK:
        return st, -1, False, False, filled, 0, None, 0
    return classify_norm(rn, flags, filled)


def classify_float(f, flags):
    """Classify 41 floats (NaN = no data); see classify_norm for the result."""
    st, rn, filled = normalise_float(f)
    if st != OK:
        return st, -1, False, False, filled, 0, None, 0
    return classify_norm(rn, flags, filled)
