"""Build step: quantise the Bus-DeMeo constants for the board's fixed-point classifier.

Reads the published DeMeo 2009 numbers through `firmware.taxonomy.load_demeo_model()`
(`seeds/taxonomy/`) and the tree table `hil.tree_table`, and writes two MicroPython modules:

* `firmware/board/assay_model.py` — the core: PCA eigenvectors and mean (Q14), the tree
  (thresholds Q24), grid constants. This is what the micro:bit (16 KB RAM) carries.
* `firmware/board/assay_tpl.py` — templates for the tree's correlation tie-breaks (unit-norm,
  mean-removed, slope-removed class means, Q15) and for the C/X fallback of an indeterminate
  tree (class means Q14, class σ Q20).

The generated files are committed (so a fresh clone flashes without a build), and
`tests/hil/test_build_model.py` checks that regenerating gives the same bytes. Nothing in
them is typed by hand. Run `python -m hil.build_model` after a change of the seeds or of the
tree table; `--check` exits 1 if the committed files are stale.

Fixed-point formats (value = integer / 2^Q): reflectance Q14, PC′ scores and slope Q24,
tie-break templates Q15, template σ Q20, χ² terms Q8. Constants are packed little-endian
int32 in bytes literals (compact to compile on a 16 KB board) and unpacked once at import.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import pprint
import struct
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np

from firmware.busdemeo import MAX_EDGE_STEPS
from firmware.kernels import demeo as K
from firmware.kernels import thermal as TH
from firmware.taxonomy import CLASS_INDEX, NORMALISATION_INDEX, load_demeo_model
from hil import tree_table as T

BOARD_DIR = Path(__file__).resolve().parents[1] / "firmware" / "board"
MODEL_PATH = BOARD_DIR / "assay_model.py"
TPL_PATH = BOARD_DIR / "assay_tpl.py"

Q_R, Q_PC, Q_HAT, Q_SIGMA = 14, 24, 15, 20
W_FLAG = 32  # class code + 32 = "add w when slope ≥ W_SLOPE" (25 classes fit in 5 bits)
BYTES_PER_LINE = 20


def quantise(x: float, q: int) -> int:
    """Round half up to the nearest multiple of 2^-q (deterministic on every platform)."""
    return int(math.floor(float(x) * (1 << q) + 0.5))


def tree_program(rules, thresholds: list[int]) -> list[int]:
    """The table as the flat byte program `assay_tree.walk` reads, thresholds (Q24, shared,
    deduplicated) collected in `thresholds` — ~0.7 KB instead of ~60 nested tuples, cheap to
    compile and to hold on a 16 KB board:
    rules = count, rule…; rule = n_cond, (var, op, threshold index)×n_cond, kind, payload
    with kind 0 → class code (+W_FLAG), 1 → c1, c2 (tie-break), 2 → length, rules (a group)."""
    out = [len(rules)]
    for conds, action in rules:
        out.append(len(conds))
        for var, op, thr in conds:
            q = 0 if op == "set" else quantise(thr, Q_PC)
            if q not in thresholds:
                thresholds.append(q)
            out += [T.VAR[var], T.OP[op], thresholds.index(q)]
        if isinstance(action, list):
            sub = tree_program(action, thresholds)
            out += [2, len(sub), *sub]
        elif action[0] == "better":
            out += [1, CLASS_INDEX[action[1]], CLASS_INDEX[action[2]]]
        else:
            out += [0, CLASS_INDEX[action[0]] + (W_FLAG if action[1] else 0)]
    if max(out) > 255 or len(thresholds) > 255:
        raise ValueError("the tree no longer fits the byte program: widen assay_tree.walk's words")
    return out


def _tree_ints(rules) -> tuple:
    """The table with names replaced by indices and thresholds by Q24 integers."""
    out = []
    for conds, action in rules:
        flat = []
        for var, op, thr in conds:
            flat += [T.VAR[var], T.OP[op], 0 if op == "set" else quantise(thr, Q_PC)]
        if isinstance(action, list):
            act = _tree_ints(action)
        elif action[0] == "better":
            act = (CLASS_INDEX[action[1]], CLASS_INDEX[action[2]])
        else:
            act = CLASS_INDEX[action[0]] + (W_FLAG if action[1] else 0)
        out.append((tuple(flat), act))
    return tuple(out)


def slope_removed_templates(model) -> np.ndarray:
    """Class means normalised at 0.55 µm, divided by their own LSQ line through (0.55, 1):
    the same construction as `firmware.busdemeo._kernel_constants` (host tie-breaks)."""
    grid = model.grid_um
    out = np.empty_like(model.template_mean)
    for c in range(out.shape[0]):
        t = model.template_mean[c] / model.template_mean[c, NORMALISATION_INDEX]
        s = np.polyfit(grid, t, 1)[0]
        out[c] = t / (1.0 + s * (grid - grid[NORMALISATION_INDEX]))
    return out


def exact_fraction(x: float, what: str) -> tuple[int, int]:
    """x as a small fraction p/q, so the board compares integers exactly."""
    f = Fraction(float(x)).limit_denominator(10_000)
    if abs(float(f) - float(x)) > 1e-12:
        raise ValueError(f"{what} = {x!r} is not a fraction with a denominator ≤ 10000")
    return f.numerator, f.denominator


def thermal_tables(model) -> dict:
    """The thermal-tail model of `firmware.kernels.thermal` in the board's orthogonal form.

    Over the fit range, each Planck column P_T is split into its part along the line
    (1, λ) and the rest u_T; û_T = u_T/|u_T| turns the host's 3-parameter least squares into
    one dot product per temperature (see assay_bdm.thermal_tail). Same for the parabola's λ²."""
    table, temps, index, _gram = TH.thermal_model(model.grid_um)[:4]
    f0 = int(index[0])
    x = model.grid_um[f0:]
    line = np.column_stack([np.ones_like(x), x])
    proj = line @ np.linalg.pinv(line)

    def orth(v):
        u = v - proj @ v
        return u, float(np.sqrt(u @ u))

    uhat, inv, thr = [], [], []
    for k in range(table.shape[0]):
        u, norm = orth(table[k, f0:])
        uhat.append([quantise(v / norm, Q_PC) for v in u])
        inv.append(quantise(1.0 / norm, Q_PC))
        thr.append(quantise(TH.MIN_EXCESS * norm, Q_PC))
    w, wnorm = orth(x * x)
    return {
        "index": tuple(int(i) for i in index), "temps": tuple(int(round(t)) for t in temps),
        "p": [[quantise(v, Q_PC) for v in row] for row in table], "uhat": uhat,
        "what": [quantise(v / wnorm, Q_PC) for v in w], "inv": inv, "thr": thr,
        "gate": exact_fraction(1.0 - TH.MAX_BAND_I_DEPTH, "1 - MAX_BAND_I_DEPTH"),
        "nsig2": exact_fraction(TH.N_SIGMA**2, "N_SIGMA²"),
    }  # fmt: skip


def _pack(values, code: str = "i") -> bytes:
    ints = [int(v) for v in np.asarray(values).ravel()]
    return struct.pack(f"<{len(ints)}{code}", *ints)


def _bytes_literal(name: str, blob: bytes) -> str:
    lines = [f"{name} = ("]
    for i in range(0, len(blob), BYTES_PER_LINE):
        lines.append(f"    {blob[i : i + BYTES_PER_LINE]!r}")
    lines.append(")")
    return "\n".join(lines)


def _digest(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else repr(p).encode())
    return h.hexdigest()


def model_source() -> str:
    """Text of `assay_model.py` (core constants)."""
    m = load_demeo_model()
    eig = np.array([[quantise(v, Q_R) for v in row] for row in m.eigenvectors])
    mean = np.array([quantise(v, Q_R) for v in m.data_mean])
    if max(np.abs(eig).max(), np.abs(mean).max()) >= 1 << 15:
        raise ValueError("eigenvectors or mean no longer fit int16 in Q14")
    # The mean is held in Q14; what Q14 loses of it is put back per PC as one Q28 constant,
    # Σ_j e_kj·(mean_j − mean_q14_j), computed here in float64 with the quantised e.
    mean_loss = (m.data_mean - mean / (1 << Q_R)) * (1 << (2 * Q_R))
    pc_corr = np.array([quantise(v, 0) for v in (eig @ mean_loss) / (1 << Q_R)])
    th = thermal_tables(m)
    tree = _tree_ints(T.TREE)
    thresholds: list[int] = []
    prog_b = bytes(tree_program(T.TREE, thresholds))
    thr_b = _pack(thresholds)
    eig_b, mean_b = _pack(eig, "h"), _pack(mean, "h")
    scalars = (Q_R, Q_PC, NORMALISATION_INDEX, len(m.grid_um), MAX_EDGE_STEPS, W_FLAG,
               quantise(T.W_SLOPE, Q_PC), T.VARIABLES)  # fmt: skip
    sha = _digest(eig_b, mean_b, tuple(pc_corr), prog_b, thr_b, scalars, th["index"], th["gate"], th["nsig2"])
    return "\n".join([
        '"""Fixed-point Bus-DeMeo core constants. GENERATED by `python -m hil.build_model` — do not edit.',
        "",
        "Source: DeMeo et al. 2009 PCA (seeds/taxonomy/, firmware.taxonomy checksum below) and the",
        "tree table hil/tree_table.py. Reflectance Q14, PC′ scores and slope Q24; arrays are",
        "little-endian int16/int32 in bytes literals (cheap to compile on a 16 KB board).",
        '"""',
        "",
        f"SOURCE_CHECKSUM = {m.checksum!r}",
        f"MODEL_SHA = {sha!r}",
        f"Q_R = {Q_R}",
        f"Q_PC = {Q_PC}",
        f"I055 = {NORMALISATION_INDEX}",
        f"N_GRID = {len(m.grid_um)}",
        f"N_PC = {eig.shape[0]}",
        f"MAX_EDGE_STEPS = {MAX_EDGE_STEPS}",
        f"W_FLAG = {W_FLAG}",
        f"W_SLOPE = {quantise(T.W_SLOPE, Q_PC)}",
        f"VARIABLES = {T.VARIABLES!r}",
        "# thermal tail (firmware.kernels.thermal): grid indices fit start, Band I continuum",
        "# lo/hi, Band I search lo/hi; 1 − MAX_BAND_I_DEPTH and N_SIGMA² as exact fractions",
        f"TH_INDEX = {th['index']!r}",
        f"TH_GATE = {th['gate']!r}",
        f"TH_NSIG2 = {th['nsig2']!r}",
        "# PC1′..PC5′ eigenvectors over the grid without 0.55 µm, row-major (5 × 40), Q14 int16",
        _bytes_literal("EIG", eig_b),
        "# sample mean of the slope-removed spectra (40), Q14 int16",
        _bytes_literal("MEAN", mean_b),
        "# Σ_j e_kj·(mean_j − MEAN_j / 2^14) per PC, Q28: the mean's quantisation loss put back",
        f"PC_CORR = {tuple(int(v) for v in pc_corr)!r}",
        "# The tree (hil/tree_table.py) as nested (flat (var, op, thr) triples, action) rules;",
        "# action: class code (+W_FLAG: w if slope >= W_SLOPE), (c1, c2) tie-break, or a group:",
        *("# " + line for line in pprint.pformat(tree, width=96, compact=True).splitlines()),
        "# ... stored as the flat byte program assay_tree.walk reads (hil.build_model.tree_program)",
        "# with the thresholds (Q24 int32) in TREE_THR",
        _bytes_literal("TREE", prog_b),
        _bytes_literal("TREE_THR", thr_b),
        "",
    ])  # fmt: skip


def tpl_source() -> str:
    """Text of `assay_tpl.py` (templates for tie-breaks and the C/X fallback)."""
    m = load_demeo_model()
    tsr = slope_removed_templates(m)
    hat_classes = sorted({CLASS_INDEX[c] for pair in T.better_pairs() for c in pair})
    hat = []
    for c in hat_classes:
        v = tsr[c] - tsr[c].mean()
        v = v / np.sqrt(np.sum(v * v))
        hat.append([quantise(x, Q_HAT) for x in v])
    cx = [int(c) for c in K.CX_CLASSES]
    cx_mean = [[quantise(x, Q_R) for x in m.template_mean[c]] for c in cx]
    cx_sigma = [[quantise(x, Q_SIGMA) for x in m.template_sigma[c]] for c in cx]
    hat_b, mean_b, sig_b = _pack(hat), _pack(cx_mean), _pack(cx_sigma)
    th = thermal_tables(m)
    th_b = [_pack(th[k]) for k in ("p", "uhat", "what", "thr", "inv")]
    sha = _digest(hat_b, mean_b, sig_b, tuple(hat_classes), tuple(cx), (Q_HAT, Q_R, Q_SIGMA),
                  th["temps"], *th_b)  # fmt: skip
    return "\n".join([
        '"""Fixed-point Bus-DeMeo templates. GENERATED by `python -m hil.build_model` — do not edit.',
        "",
        "Thermal tail: firmware.kernels.thermal's Planck table, in the board's orthogonal form.",
        "Tie-breaks: slope-removed class means (DeMeo 2009 templates, seeds/taxonomy/), mean-removed",
        "and scaled to unit norm, Q15. C/X fallback: class means Q14 and class σ Q20 (the host's σ",
        "after its median fill and 0.001 floor). Arrays are little-endian int32, row-major × 41.",
        '"""',
        "",
        f"TPL_SHA = {sha!r}",
        f"Q_HAT = {Q_HAT}",
        f"Q_SIGMA = {Q_SIGMA}",
        f"HAT_CLASSES = {tuple(hat_classes)!r}",
        f"CX_CLASSES = {tuple(cx)!r}",
        _bytes_literal("HAT", hat_b),
        _bytes_literal("CX_MEAN", mean_b),
        _bytes_literal("CX_SIGMA", sig_b),
        "# thermal tail: temperatures K; Planck columns P_T normalised at 2.45 µm (n_T × 41),",
        "# their unit parts orthogonal to the line over the fit range (n_T × m), the same for λ²",
        "# (m), MIN_EXCESS·|P_T ⟂ line| and 1/|P_T ⟂ line| (n_T); all Q24",
        f"TH_TEMPS_K = {th['temps']!r}",
        _bytes_literal("TH_P", th_b[0]),
        _bytes_literal("TH_UHAT", th_b[1]),
        _bytes_literal("TH_WHAT", th_b[2]),
        _bytes_literal("TH_THR", th_b[3]),
        _bytes_literal("TH_INV", th_b[4]),
        "",
    ])  # fmt: skip


def outputs() -> dict[Path, str]:
    return {MODEL_PATH: model_source(), TPL_PATH: tpl_source()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hil.build_model", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed files are stale")
    args = parser.parse_args(argv)
    stale = []
    for path, text in outputs().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(text, encoding="utf-8")
    for path in stale:
        print(f"{'stale' if args.check else 'wrote'}: {path}")
    if args.check and stale:
        print("run `python -m hil.build_model` to regenerate", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
