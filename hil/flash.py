"""Flash the harness onto a board over the raw REPL: skip what matches, write atomically, verify.

For each module of `firmware.board.BOARD_MODULES` (as `.py`, or `.mpy` precompiled by
mpy-cross with `mpy=True`):

1. if the board's file has the same sha256 (hashlib on the board; boards without it, such
   as the micro:bit, send the file back), skip it;
2. otherwise write `<name>.part`, check its sha256, and only then rename it over `<name>`
   — an interrupted flash leaves `.part` files (removed by the next flash) and complete old
   modules, never a half-written module (a filesystem without rename, the micro:bit's, is
   written in place: the sha256 check finds a half-written module and the next flash
   rewrites it);
3. remove the stale twin (`X.py` next to a new `X.mpy` is imported first by MicroPython,
   and a stale `X.mpy` would shadow nothing but confuse), and leftover `.part` files;
4. verify every module's sha256 at the end.

`autostart=True` also writes a main.py that serves the harness at boot (it answers QUIT, so
the raw REPL stays reachable); without it, a main.py written by us earlier is removed.
"""

from __future__ import annotations

import ast
import hashlib
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from firmware.board import BOARD_MODULES, CORE_MODULES
from firmware.errors import AssayError
from hil.rawrepl import RawRepl

BOARD_SRC = Path(__file__).resolve().parents[1] / "firmware" / "board"
MAIN_MARKER = "# assay-hil autostart"
WRITE_ATTEMPTS = 3
MAIN_PY = f"{MAIN_MARKER}: serve the Assay harness at boot (QUIT returns to the REPL)\n" \
          "import assay_harness\nassay_harness.serve()\n"  # fmt: skip

_HELPERS = """
import os, sys
try:
    import hashlib, binascii
except ImportError:
    hashlib = None
def _assay_sha(n):
    if hashlib is None:
        return None
    h = hashlib.sha256()
    f = open(n, 'rb')
    while True:
        b = f.read(512)
        if not b:
            break
        h.update(b)
    f.close()
    return binascii.hexlify(h.digest()).decode()
def _assay_has(n):
    return n in os.listdir()
def _assay_rm(n):
    try:
        os.remove(n)
    except OSError:
        pass
"""


class FlashError(AssayError):
    """Flashing failed: says which file, what the board said, and what to do."""


@dataclass(frozen=True)
class FileAction:
    name: str
    action: str  # "written", "skipped", "removed", "verified"
    size: int
    sha256: str | None


@dataclass
class FlashReport:
    platform: str
    mpy: bool
    actions: list[FileAction] = field(default_factory=list)
    seconds: float = 0.0
    bytes_written: int = 0
    rewrites: int = 0  # files written again after a failed sha256 check

    def count(self, action: str) -> int:
        return sum(1 for a in self.actions if a.action == action)

    def summary(self) -> str:
        return (f"{self.platform}: {self.count('written')} written, {self.count('skipped')} "
                f"unchanged, {self.count('removed')} removed, {self.bytes_written} B "
                f"({self.rewrites} rewritten after a bad check) in "
                f"{self.seconds:.2f} s ({'mpy' if self.mpy else 'py'})")  # fmt: skip


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _NoDocstrings(ast.NodeTransformer):
    def _strip(self, node):
        self.generic_visit(node)
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):  # fmt: skip
            node.body = body[1:] or [ast.Pass()]
        return node

    visit_Module = visit_FunctionDef = visit_ClassDef = _strip


def stripped(source: bytes) -> bytes:
    """The module without docstrings and comments: what a 16 KB board can compile (the
    parser holds the whole module's tree in RAM; docstrings are part of it)."""
    tree = _NoDocstrings().visit(ast.parse(source))
    return (ast.unparse(ast.fix_missing_locations(tree)) + "\n").encode()


def _model_names_used(modules) -> set[str]:
    """Names of assay_model that the other flashed modules read (as `M.<name>`)."""
    used = set()
    for mod in modules:
        if mod == "assay_model":
            continue
        tree = ast.parse((BOARD_SRC / f"{mod}.py").read_bytes())
        used |= {n.attr for n in ast.walk(tree)
                 if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "M"}  # fmt: skip
    return used


def pruned_model(source: bytes, keep: set[str]) -> bytes:
    """assay_model with only the constants in `keep` (every qstr and object costs RAM on a
    16 KB board; the harness's INFO fields are not flashed there)."""
    tree = ast.parse(source)
    tree.body = [n for n in tree.body
                 if not (isinstance(n, ast.Assign) and all(isinstance(t, ast.Name) and t.id not in keep
                                                           for t in n.targets))]  # fmt: skip
    return ast.unparse(tree).encode() + b"\n"


def build_files(mpy: bool, modules=BOARD_MODULES, build_dir: Path | None = None,
                strip: bool = False) -> dict[str, bytes]:  # fmt: skip
    """Board file name → bytes: the sources (optionally stripped: no docstrings, comments, or
    model constants the flashed modules do not read), or their mpy-cross output."""
    out = {}
    for mod in modules:
        src = BOARD_SRC / f"{mod}.py"
        if not mpy:
            text = stripped(src.read_bytes()) if strip else src.read_bytes()
            if strip and mod == "assay_model":
                text = pruned_model(text, _model_names_used(modules))
            out[f"{mod}.py"] = text
            continue
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(build_dir or tmp) / f"{mod}.mpy"
            proc = subprocess.run(
                [sys.executable, "-m", "mpy_cross", "-o", str(target), "-s", f"{mod}.py", str(src)],
                capture_output=True, text=True,
            )  # fmt: skip
            if proc.returncode:
                raise FlashError(f"mpy-cross failed on {src}: {proc.stderr.strip()} — try without --mpy")
            out[f"{mod}.mpy"] = target.read_bytes()
    return out


def mpy_version() -> int:
    """The .mpy format mpy-cross emits (the major version boards check on import)."""
    text = subprocess.run([sys.executable, "-m", "mpy_cross", "--version"], capture_output=True,
                          text=True).stdout  # fmt: skip
    return int(text.rsplit("mpy v", 1)[1].split(".")[0])


class Flasher:
    """One flashing session over a raw REPL."""

    def __init__(self, repl: RawRepl, chunk: int = 256):
        self.repl = repl
        self.chunk = chunk
        self.probe: dict = {}

    def _eval(self, expr: str):
        text = self.repl.eval(expr, timeout_s=20)
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError) as exc:
            raise FlashError(f"board answered {text!r} to {expr!r}") from exc

    def start(self) -> dict:
        self.repl.enter()
        self.repl.exec(_HELPERS)
        self.probe = self._eval(
            "{'platform': sys.platform, 'mpy': getattr(sys.implementation, '_mpy', None), "
            "'hashlib': hashlib is not None, 'rename': hasattr(os, 'rename'), 'files': os.listdir()}"
        )
        return self.probe

    def board_sha(self, name: str) -> str | None:
        if not self._eval(f"_assay_has({name!r})"):
            return None
        if self.probe["hashlib"]:
            return self._eval(f"_assay_sha({name!r})")
        return sha256(self.read_file(name))

    def read_file(self, name: str) -> bytes:
        """The board's file, read back in chunks (for boards without hashlib)."""
        self.repl.exec(f"_f = open({name!r}, 'rb')")
        out = bytearray()
        while True:
            piece = self._eval(f"_f.read({self.chunk})")
            if not piece:
                break
            out += piece
        self.repl.exec("_f.close()")
        return bytes(out)

    def write_file(self, name: str, data: bytes) -> None:
        self.repl.exec(f"_f = open({name!r}, 'wb')\n_w = _f.write")
        for i in range(0, len(data), self.chunk):
            self.repl.exec(f"_w({data[i : i + self.chunk]!r})")
        self.repl.exec("_f.close()")

    def remove(self, name: str) -> None:
        self.repl.exec(f"_assay_rm({name!r})")

    def rename(self, src: str, dst: str) -> None:
        # remove first: FAT cannot rename over an existing file
        self.repl.exec(f"_assay_rm({dst!r})\nos.rename({src!r}, {dst!r})")


def flash(repl: RawRepl, *, mpy: bool = False, force: bool = False, autostart: bool = False,
          modules=None, strip: bool | None = None, chunk: int = 256) -> FlashReport:  # fmt: skip
    """Put the harness on the board (see the module docstring). Leaves the board in the raw REPL.

    `modules` default: the whole harness — or, on a micro:bit (16 KB RAM), the classifier
    core (`CORE_MODULES`), stripped of docstrings and comments (`strip` default there)."""
    t0 = time.monotonic()
    f = Flasher(repl, chunk)
    probe = f.start()
    small = probe["platform"] == "microbit"
    if modules is None:
        modules = CORE_MODULES if small else BOARD_MODULES
    if strip is None:
        strip = small
    if mpy:
        board_mpy = probe["mpy"]
        want = mpy_version()
        if board_mpy is None or (board_mpy & 0xFF) != want:
            raise FlashError(
                f"the board ({probe['platform']}) loads .mpy version "
                f"{None if board_mpy is None else board_mpy & 0xFF}, mpy-cross makes {want}: "
                "flash without --mpy, or install an mpy-cross matching the board's MicroPython"
            )
    files = build_files(mpy, modules, strip=strip)
    if autostart:
        files["main.py"] = MAIN_PY.encode()
    report = FlashReport(platform=probe["platform"], mpy=mpy)
    present = set(probe["files"])
    for name in sorted(present):  # leftovers of an interrupted flash
        if name.endswith(".part") and (name[: -len(".part")] in files or name.startswith("assay_")):
            f.remove(name)
            report.actions.append(FileAction(name, "removed", 0, None))
    for name, data in files.items():
        digest = sha256(data)
        if not force and name in present and f.board_sha(name) == digest:
            report.actions.append(FileAction(name, "skipped", len(data), digest))
        else:
            # write aside and rename; a filesystem without rename (micro:bit) gets the file
            # in place, verified below — an interrupted flash there leaves a module to rewrite
            part = name + ".part" if probe["rename"] else name
            for _ in range(WRITE_ATTEMPTS):  # a damaged transfer is written again
                f.write_file(part, data)
                got = f.board_sha(part)
                if got == digest:
                    break
                report.rewrites += 1
            else:
                raise FlashError(f"{name}: the board holds sha256 {got} after {WRITE_ATTEMPTS} writes, "
                                 f"expected {digest}; the link corrupts data — check the cable, "
                                 "or lower the baud rate")  # fmt: skip
            if part != name:
                f.rename(part, name)
            report.bytes_written += len(data)
            report.actions.append(FileAction(name, "written", len(data), digest))
        stem, ext = name.rsplit(".", 1)
        twin = f"{stem}.{'py' if ext == 'mpy' else 'mpy'}"
        if name != "main.py" and twin in present:
            f.remove(twin)
            report.actions.append(FileAction(twin, "removed", 0, None))
    if not autostart and "main.py" in present:
        head = f._eval(f"open('main.py').read({len(MAIN_MARKER)})")
        if head == MAIN_MARKER:
            f.remove("main.py")
            report.actions.append(FileAction("main.py", "removed", 0, None))
    for a in report.actions:  # what the board will import, after the renames
        if a.action == "written" and f.board_sha(a.name) != a.sha256:
            raise FlashError(f"{a.name}: verification after flashing failed; flash again with --force")
    report.seconds = time.monotonic() - t0
    return report
