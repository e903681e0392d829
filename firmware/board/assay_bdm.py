"""Fixed-point Bus-DeMeo classifier for MicroPython boards (also runs on CPython, bit-exact).

`assay_core` (normalise, slope, PCA, tree) plus what the host's `classify_one` does around
the tree: the thermal-tail test before the slope (firmware.kernels.thermal), the A/D and C/X
tie-breaks by correlation with slope-removed templates, and the nearest C/X template (χ²)
when the tree is indeterminate — with the tables of `assay_tpl`. See assay_core for the
number formats and why integers.
"""

# ruff: noqa: UP031 — MicroPython 1.9 (the micro:bit firmware) has no f-strings

try:
    import ustruct as struct
except ImportError:
    import struct

if "." in __name__:  # CPython: imported as firmware.board.assay_bdm
    from . import assay_core as C
    from . import assay_model as M
    from . import assay_tree as T
else:  # on the board: flat modules
    import assay_core as C
    import assay_model as M
    import assay_tree as T

OK, NO_COVERAGE, BAD_NORMALISATION = C.OK, C.NO_COVERAGE, C.BAD_NORMALISATION
OUT_OF_RANGE, NO_TEMPLATES, INT16_MISSING = C.OUT_OF_RANGE, C.NO_TEMPLATES, C.INT16_MISSING
rdiv = C.rdiv
normalise_int, fill_edges = C.normalise_int, C.fill_edges
slope_q24, remove_slope, pc_scores = C.slope_q24, C.remove_slope, C.pc_scores
ONE = C.ONE


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
    """True if the spectrum may carry a thermal tail: no silicate Band I, i.e. not both a
    point deeper than the host's MAX_BAND_I_DEPTH below the 0.75–1.50 µm continuum (exact
    integer comparison) and a point of the band below R(1.50 µm) (the band has a minimum)."""
    f0, c0, c1, b0, b1 = M.TH_INDEX
    p1, q1 = M.TH_GATE  # 1 − MAX_BAND_I_DEPTH = p1 / q1
    span = c1 - c0
    deep = False
    below = False
    for j in range(b0, b1 + 1):
        c = rn[c0] * span + (rn[c1] - rn[c0]) * (j - c0)  # continuum × span
        lhs = rn[j] * span * q1
        if (c > 0 and lhs <= p1 * c) or (c < 0 and lhs >= p1 * c) or (c == 0 and rn[j] < 0):
            deep = True
        if rn[j] < rn[c1]:
            below = True
    return not (deep and below)


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
    action = T.walk(T.TREE, T.tree_vars(pc, s, rn[0], flags))
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
