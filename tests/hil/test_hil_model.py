"""The generated board constants and the tree table, against their sources.

* regenerating `firmware/board/assay_model.py` and `assay_tpl.py` gives the committed bytes
  (so they are never edited by hand, and never stale after a change of the seeds, the tree
  table or the thermal-tail parameters);
* the quantised constants are the published ones to their quantisation step;
* the tree table, read in floating point, is the host's `_tree`: same class on points on both
  sides of (and exactly on) every threshold, and every leaf is reached.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

from firmware.board import assay_model, assay_tpl
from firmware.busdemeo import _kernel_constants
from firmware.kernels import demeo as K
from firmware.taxonomy import CLASS_INDEX, CLASS_NAMES, load_demeo_model
from hil import build_model
from hil import tree_table as T


def test_generated_modules_are_up_to_date():
    for path, text in build_model.outputs().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.name} is stale: run `python -m hil.build_model` and commit it")


def _ints(blob: bytes, size: int = 4) -> np.ndarray:
    code = {2: "h", 4: "i"}[size]
    return np.array(struct.unpack(f"<{len(blob) // size}{code}", blob))


def test_core_number_formats_match_the_model():
    """assay_core folds its formats into const() (no RAM on a micro:bit): they must be the
    model's, and the grid must be the one its slope constant 287 is derived for."""
    from firmware.board import assay_core as C
    from firmware.board import assay_tree

    assert (C._Q_R, C._Q_PC, C._N, C._I055) == (assay_model.Q_R, assay_model.Q_PC,
                                                  assay_model.N_GRID, assay_model.I055)  # fmt: skip
    assert assay_tree._R045_SHIFT == assay_model.Q_PC - assay_model.Q_R
    i = np.arange(C._N)
    assert C._CENTRE == (C._N - 1) // 2 and C._SLOPE_DEN * C._STEP_INV == np.sum((i - C._CENTRE) ** 2)
    assert np.allclose(load_demeo_model().grid_um, 0.45 + i / C._STEP_INV)


def test_no_board_module_reads_another_modules_private_consts():
    """`_NAME = const(...)` is folded away on MicroPython: reading `C._NAME` from another
    module works on CPython and fails on the board."""
    import ast
    from pathlib import Path

    import firmware.board

    aliases = {"C", "M", "T", "bdm", "fr", "model"}
    bad = []
    for path in Path(firmware.board.__file__).parent.glob("assay_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and node.attr.startswith("_")):  # fmt: skip
                bad.append(f"{path.name}:{node.lineno} {node.value.id}.{node.attr}")
    assert not bad, bad


def test_quantised_constants_are_the_published_ones():
    m = load_demeo_model()
    assert assay_model.SOURCE_CHECKSUM == m.checksum
    eig = _ints(assay_model.EIG, 2).reshape(5, 40) / 2**14
    assert np.abs(eig - m.eigenvectors).max() <= 2**-15
    mean = _ints(assay_model.MEAN, 2) / 2**14
    assert np.abs(mean - m.data_mean).max() <= 2**-15
    loss = (np.array(assay_model.PC_CORR) / 2**28) - (eig @ (m.data_mean - mean))
    assert np.abs(loss).max() < 2**-27
    cx_mean = _ints(assay_tpl.CX_MEAN).reshape(len(assay_tpl.CX_CLASSES), 41) / 2**14
    assert np.abs(cx_mean - m.template_mean[list(assay_tpl.CX_CLASSES)]).max() <= 2**-15
    assert list(assay_tpl.CX_CLASSES) == list(K.CX_CLASSES)


def test_tie_break_templates_are_the_hosts():
    _m, tmpl_sr, _inv = _kernel_constants()
    hat = _ints(assay_tpl.HAT).reshape(len(assay_tpl.HAT_CLASSES), 41) / 2**15
    for row, c in zip(hat, assay_tpl.HAT_CLASSES, strict=True):
        v = tmpl_sr[c] - tmpl_sr[c].mean()
        assert np.abs(row - v / np.linalg.norm(v)).max() <= 2**-16


def _host(values, rprime, tsr):
    pc = np.array([values[f"pc{k}"] for k in range(1, 6)])
    c, w = K._tree(pc, values["slope"], values["r045"], rprime, tsr,
                   values["e"] > 0, values["h"] > 0, values["k"] > 0)  # fmt: skip
    return None if c < 0 else (CLASS_NAMES[c], bool(w))


def _table(values, rprime, tsr):
    def better(c1, c2):
        return CLASS_NAMES[K._better(rprime, tsr, CLASS_INDEX[c1], CLASS_INDEX[c2])]

    return T.evaluate(values, better)


def _conditions(rules=None):
    for conds, action in T.TREE if rules is None else rules:
        yield from conds
        if isinstance(action, list):
            yield from _conditions(action)


def _leaves(rules=None):
    for _conds, action in T.TREE if rules is None else rules:
        if isinstance(action, list):
            yield from _leaves(action)
        elif action[0] == "better":
            yield action[1]
            yield action[2]
        else:
            yield action[0]


def test_tree_table_is_the_host_tree():
    rng = np.random.default_rng(2024)
    _m, tsr, _inv = _kernel_constants()
    base_pts = []
    for _ in range(4000):
        base_pts.append({
            "pc1": rng.uniform(-1.5, 1.2), "pc2": rng.uniform(-0.6, 1.0), "pc3": rng.uniform(-0.4, 0.7),
            "pc4": rng.uniform(-0.35, 0.35), "pc5": rng.uniform(-0.35, 0.25),
            "slope": rng.uniform(-0.3, 1.7), "r045": rng.uniform(0.8, 1.0),
            "e": float(rng.random() < 0.3), "h": float(rng.random() < 0.3), "k": float(rng.random() < 0.3),
        })  # fmt: skip
    points = list(base_pts)
    for j, (var, op, thr) in enumerate(_conditions()):  # both sides of, and on, each threshold
        if op == "set":
            continue
        for delta in (-1e-7, 0.0, 1e-7):
            p = dict(base_pts[j % len(base_pts)])
            if var == "a":
                if delta == 0.0:
                    continue  # host and table form the line differently: equality is ulp noise
                p["pc1"] = thr + delta - 3.0 * p["pc2"]
            elif var == "b":
                if delta == 0.0:
                    continue
                p["pc1"] = (thr + delta + p["pc2"]) / 3.0
            else:
                p[var] = thr + delta
            points.append(p)
    seen = set()
    for p in points:
        values = T.derived([p[f"pc{k}"] for k in range(1, 6)], p["slope"], p["r045"], (p["e"], p["h"], p["k"]))
        rprime = 1.0 + 0.1 * np.sin(np.arange(41) * (p["pc3"] + 2.0))
        host, table = _host(values, rprime, tsr), _table(values, rprime, tsr)
        assert host == table, f"{p}: host {host}, table {table}"
        if host:
            seen.add(host[0])
    assert set(_leaves()) <= seen, f"leaves never reached: {set(_leaves()) - seen}"


@pytest.mark.parametrize("var", ["pc1", "slope"])
def test_a_changed_threshold_is_caught(var, monkeypatch):
    """The comparison above fails if the table drifts from the host (here: one number moved)."""
    at = 2 if var == "slope" else 0
    conds, action = T.TREE[at]
    moved = tuple((v, op, t + 0.01) if v == var else (v, op, t) for v, op, t in conds)
    tree = list(T.TREE)
    tree[at] = (moved, action)
    monkeypatch.setattr(T, "TREE", tree)
    with pytest.raises(AssertionError, match="host"):
        test_tree_table_is_the_host_tree()
