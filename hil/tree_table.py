"""The Bus-DeMeo decision tree as data: the one table the board's fixed-point tree is built from.

It mirrors `firmware.kernels.demeo._tree` (DeMeo et al. 2009, Appendix B, with the host's
ordering fixes) rule for rule, so that a change of the host tree is a change of this table:
edit the numbers here, run `python -m hil.build_model`, and `tests/hil/test_tree_table.py`
checks the table against the host tree on random points on both sides of every threshold.

A rule is (conditions, action). Conditions are a conjunction of (variable, op, threshold);
the action is a class (name, w) — w = "add the w suffix when slope ≥ W_SLOPE" —, a
correlation tie-break ("better", c1, c2), or a nested list of rules (a group: if none of its
rules fires, evaluation continues after the group, exactly like the host's nested ifs).

The lines of the PC2′–PC1′ plane become two derived variables so that the board compares
integers without dividing: `a = pc1 + 3·pc2` (α, β, γ, δ, θ: pc1 ≥ −3·pc2 + c ⟺ a ≥ c) and
`b = 3·pc1 − pc2` (ε, ζ, η: pc1 ≥ pc2/3 + c ⟺ b ≥ 3c).
"""

from __future__ import annotations

# Variables, in the order the board evaluates them (firmware/board/assay_bdm.py).
VARIABLES = ("pc1", "pc2", "pc3", "pc4", "pc5", "slope", "r045", "a", "b", "e", "h", "k")
VAR = {name: i for i, name in enumerate(VARIABLES)}
FLAG_VARIABLES = ("e", "h", "k")
OPS = ("<", "<=", ">", ">=", "set")
OP = {name: i for i, name in enumerate(OPS)}

W_SLOPE = 0.25  # DeMeo 2009 §5: "w" suffix for slope ≥ 0.25 µm⁻¹ (firmware.kernels.demeo.W_SLOPE)

# Lines of DeMeo 2009 Fig. 14–16 (classy names), as offsets c of pc1 = −3·pc2 + c ...
ALPHA, BETA, GAMMA, DELTA, THETA = -0.28, 0.35, 1.0, 1.5, 0.7
# ... and of pc1 = pc2/3 + c, compared as 3·pc1 − pc2 against 3c.
EPS3, ZETA3, ETA3 = 3 * 0.55, 3 * -0.10, 3 * -0.40


def _c(*conds):
    return tuple(conds)


W = True  # readability: ("S", W) = S, with the w suffix when the slope is steep

TREE = [
    # Step 1: A and Sa — very red with a strong olivine band.
    (_c(("pc1", "<", -0.3), ("pc3", ">=", 0.2), ("slope", ">=", 0.4)), [
        (_c(("slope", ">=", 0.55), ("slope", "<", 1.5)), ("A", False)),
        (_c(("slope", "<", 0.55)), ("Sa", False)),
    ]),
    # Step 2: above line α — S-complex, Q, O, R, V (R tested before V, as the host does).
    (_c(("a", ">=", ALPHA)), [
        (_c(("b", ">=", ETA3), ("a", ">=", GAMMA), ("a", "<", DELTA)), ("R", W)),
        (_c(("a", ">=", GAMMA)), ("V", W)),
        (_c(("b", "<=", ETA3)), [
            (_c(("a", ">=", THETA), ("a", "<", DELTA)), ("O", False)),
            (_c(("a", ">=", ALPHA), ("a", "<", THETA)), ("Q", W)),
        ]),
        (_c(("b", ">", ZETA3), ("a", "<", BETA)), ("S", W)),
        (_c(("a", ">=", ALPHA), ("a", "<", BETA), ("b", ">", ETA3), ("b", "<=", ZETA3)), ("Sq", W)),
        (_c(("a", ">=", BETA), ("a", "<", GAMMA)), [
            (_c(("b", ">", EPS3)), ("Sv", W)),
            (_c(), ("Sr", W)),
        ]),
        (_c(), ("S", W)),
    ]),
    # Step 3: below line α — end-members with red or flat slopes.
    (_c(("slope", ">=", 0.38), ("slope", "<", 1.5), ("pc1", ">", -0.44), ("pc1", "<", 0.4)),
     ("better", "A", "D")),
    (_c(("slope", ">", 0.25), ("slope", "<", 0.38), ("pc2", ">", -0.28), ("pc2", "<", -0.2),
        ("pc3", ">", -0.2), ("pc3", "<", -0.12)), ("T", False)),
    (_c(("pc1", ">", 0.07), ("pc1", "<", 1.0), ("pc2", ">", -0.5), ("pc2", "<", -0.15)), [
        (_c(("e", "set", 0)), ("Xe", False)),
        (_c(), ("L", False)),
    ]),
    (_c(("pc3", ">", -0.075), ("pc3", "<", 0.14), ("pc2", ">=", -0.2), ("pc2", "<", 0.1),
        ("pc1", ">", -0.8), ("pc1", "<", 0.1)), [
        (_c(("e", "set", 0)), ("Xe", False)),
        (_c(), ("K", False)),
    ]),
    # C- and X-complexes.
    (_c(("slope", ">", -0.2), ("slope", "<", 0.0), ("pc1", ">", -1.2), ("pc1", "<", 0.0),
        ("pc4", "<", 0.0)), ("B", False)),
    (_c(("slope", ">", 0.2), ("slope", "<", 0.38)), [
        (_c(("k", "set", 0)), ("Xk", False)),
        (_c(("e", "set", 0)), ("Xe", False)),
        (_c(), ("better", "C", "X")),
    ]),
    (_c(("pc4", ">", 0.01), ("pc4", "<", 0.14), ("pc1", ">", -0.75), ("pc1", "<", -0.27)), [
        (_c(("h", "set", 0)), [
            (_c(("r045", "<", 0.92)), ("Cgh", False)),
            (_c(), ("Ch", False)),
        ]),
        (_c(("k", "set", 0)), ("Xk", False)),
    ]),
    (_c(("pc4", ">", -0.04), ("pc4", "<", 0.02), ("pc5", ">", -0.07), ("pc5", "<", -0.04)),
     ("Cb", False)),
    (_c(("pc1", ">", -0.85), ("pc1", "<", -0.45), ("pc5", ">", -0.06), ("pc5", "<", 0.02)), [
        (_c(("h", "set", 0)), ("Ch", False)),
        (_c(("k", "set", 0)), ("Xk", False)),
        (_c(), ("C", False)),
    ]),
    (_c(("pc5", ">=", 0.02), ("pc5", "<", 0.1), ("pc1", ">", -0.6), ("pc1", "<", -0.16)), [
        (_c(("h", "set", 0)), ("Cgh", False)),
        (_c(), ("Cg", False)),
    ]),
    (_c(("pc1", ">=", -0.45), ("pc1", "<", 0.1), ("pc5", ">", -0.06), ("pc5", "<", 0.05)), [
        (_c(("h", "set", 0)), ("Ch", False)),
        (_c(("e", "set", 0)), ("Xe", False)),
        (_c(("k", "set", 0)), ("Xk", False)),
        (_c(), ("Xc", False)),
    ]),
    (_c(("pc1", ">=", -0.1), ("pc1", "<", 0.3), ("pc2", ">", -0.5), ("pc2", "<", -0.2)), [
        (_c(("e", "set", 0)), ("Xe", False)),
        (_c(), ("L", False)),
    ]),
]  # fmt: skip
# No rule fired: indeterminate; the caller falls back to the nearest C/X template (χ²).


def better_pairs(rules=None) -> list[tuple[str, str]]:
    """Every (c1, c2) of a correlation tie-break in the tree (the board needs their templates)."""
    out: list[tuple[str, str]] = []
    for _conds, action in TREE if rules is None else rules:
        if isinstance(action, list):
            out += [p for p in better_pairs(action) if p not in out]
        elif action[0] == "better" and (action[1], action[2]) not in out:
            out.append((action[1], action[2]))
    return out


def _holds(x: float, op: str, t: float) -> bool:
    if op == "<":
        return x < t
    if op == "<=":
        return x <= t
    if op == ">":
        return x > t
    if op == ">=":
        return x >= t
    return bool(x)  # "set": a detected feature flag


def evaluate(values: dict[str, float], better, rules=None):
    """Walk the table in floating point: the host-side reading of the same table.

    `values` maps every name of VARIABLES to a number (flags 0/1); `better(c1, c2)` returns
    the tie-break winner. Returns (class name, w flag) or None (indeterminate).
    """
    for conds, action in TREE if rules is None else rules:
        if not all(_holds(values[v], op, t) for v, op, t in conds):
            continue
        if isinstance(action, list):
            found = evaluate(values, better, action)
            if found is not None:
                return found
            continue
        if action[0] == "better":
            return better(action[1], action[2]), False
        name, w = action
        return name, bool(w and values["slope"] >= W_SLOPE)
    return None


def derived(pc, slope: float, r045: float, flags) -> dict[str, float]:
    """The table's variables from 5 PC′ scores, slope (µm⁻¹), R(0.45)/R(0.55) and e/h/k flags."""
    pc1, pc2, pc3, pc4, pc5 = (float(v) for v in pc)
    return {
        "pc1": pc1, "pc2": pc2, "pc3": pc3, "pc4": pc4, "pc5": pc5,
        "slope": float(slope), "r045": float(r045),
        "a": pc1 + 3.0 * pc2, "b": 3.0 * pc1 - pc2,
        "e": float(bool(flags[0])), "h": float(bool(flags[1])), "k": float(bool(flags[2])),
    }  # fmt: skip
