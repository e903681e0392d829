"""Profile the spectral core with Linux `perf`, with the names of numba's compiled kernels.

    perf record -o perf.data python -m benchmarks.perfmap survey|stage|report [N] [CALLS]
    perf report -i perf.data --no-children --sort sym

numba's machine code lives in anonymous memory, so `perf` shows its samples as bare
addresses. `perf` reads symbols for such code from `/tmp/perf-<pid>.map` (one line per
function: start address, size, name, in hex); this module writes that file for the running
process: every function of every cached kernel object in `firmware/kernels/__pycache__`
(ELF inside numba's `.nbc` files: its symbol table gives each function's size) that the
process has loaded (or NUMBA_CACHE_DIR's), at the address numba's execution engine resolves
for it. The kernels
are not inlined into each other (`njit_leaf` functions are separate symbols), so the report
splits the time by kernel: `_fit_min`, `features_block`, `chi2_block`, ... `main` also dumps
each kernel's machine code to `/tmp/perf-<pid>.code/` for `benchmarks.annotate` (samples per
instruction).

It relies on numba internals (`_engine._ee`, the object-code cache; numba 0.6x) and is a
developer tool: `benchmarks/test_perfmap.py` checks it still finds the kernels.
Used in issue 5 round 4 (README, "Speed"): the band fits are ~22 % of the survey's time.
"""

from __future__ import annotations

import os
import struct
import sys
import time
from collections import Counter
from pathlib import Path

import numba

KERNEL_CACHE = Path(__file__).resolve().parents[1] / "firmware" / "kernels" / "__pycache__"
_SHT_SYMTAB = 2
_STT_FUNC = 2


def elf_functions(blob: bytes) -> dict[str, tuple[int, int, int, bytes]]:
    """{function name: (section index, offset in the section, size in bytes, its first 16
    bytes of code)} from the symbol table of an ELF64 little-endian object."""
    shoff, = struct.unpack_from("<Q", blob, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", blob, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", blob, shoff + k * shentsize) for k in range(shnum)]
    out = {}
    for sec in sections:
        if sec[1] != _SHT_SYMTAB:
            continue
        sym_off, sym_size, link, entsize = sec[4], sec[5], sec[6], sec[9]
        str_off = sections[link][4]
        for k in range(sym_size // entsize):
            name_off, info, _other, shndx, value, size = struct.unpack_from(
                "<IBBHQQ", blob, sym_off + k * entsize)  # fmt: skip
            if info & 0xF == _STT_FUNC and size:
                end = blob.index(b"\0", str_off + name_off)
                code_at = sections[shndx][4] + value  # the section's file offset + the symbol's
                out[blob[str_off + name_off : end].decode()] = (shndx, value, size,
                                                                blob[code_at : code_at + 16])
    return out


def elf_objects(data: bytes):
    """The ELF objects embedded in a numba cache file, each sliced to its exact length (the
    section header table ends an object written by LLVM)."""
    k = data.find(b"\x7fELF")
    while k >= 0:
        shoff, = struct.unpack_from("<Q", data, k + 0x28)
        shentsize, shnum = struct.unpack_from("<HH", data, k + 0x3A)
        end = k + shoff + shentsize * shnum
        yield data[k:end]
        k = data.find(b"\x7fELF", end)


def cache_files() -> list[Path]:
    """numba's cache files of the kernels: beside them, or under NUMBA_CACHE_DIR when set."""
    roots = [KERNEL_CACHE]
    if numba.config.CACHE_DIR:
        roots.append(Path(numba.config.CACHE_DIR))
    return sorted(f for root in roots for f in root.rglob("*.nbc"))


def kernel_symbols() -> list[tuple[int, int, str, bytes]]:
    """(address, size, name, first 16 bytes of its code in the object file) of every cached
    kernel function loaded in this process.

    A leaf kernel has a copy in the object of every kernel that calls it, and the engine
    resolves its name to one of them; a symbol is taken from an object only where the
    object's section sits at the address the engine resolves for most of that section's
    functions (the copy actually loaded), so each size belongs to its address."""
    from firmware.kernels import pipeline

    # any compiled kernel reaches the process-wide engine that holds every loaded object
    engine = next(iter(pipeline.bus_demeo_pipeline.overloads.values())).library._codegen._engine
    found = {}
    for path in cache_files():
        for blob in elf_objects(path.read_bytes()):
            placed = []
            for name, (section, offset, size, code) in elf_functions(blob).items():
                address = engine._ee.get_function_address(name)
                if address:
                    placed.append((section, address - offset, address, size, name, code))
            bases = Counter((section, base) for section, base, *_ in placed)
            for section, base, address, size, name, code in placed:
                if bases[section, base] >= 2 or len(placed) == 1:
                    found[address] = (size, name, code)
    # copies of one function compiled in different kernels can differ by a few bytes:
    # a size is clipped so that it never reaches into the next function
    starts = sorted(found)
    return [(a, min(found[a][0], nxt - a), found[a][1], found[a][2])
            for a, nxt in zip(starts, [*starts[1:], 2**64], strict=True)]  # fmt: skip


def short_name(mangled: str) -> str:
    """`firmware.kernels.bands._fit_min` from numba's mangled `_ZN8firmware7kernels5bands8_fit_minB3v…`."""
    if not mangled.startswith("_ZN"):
        return mangled
    parts, k = [], 3
    while k < len(mangled) and mangled[k].isdigit():
        j = k
        while mangled[j].isdigit():
            j += 1
        n = int(mangled[k:j])
        parts.append(mangled[j : j + n])
        k = j + n
        if k < len(mangled) and mangled[k] == "B":  # numba's ABI tags follow the last name
            break
    return ".".join(parts) if parts else mangled


def write_perf_map(pid: int | None = None, symbols: list | None = None) -> Path:
    """Write /tmp/perf-<pid>.map for this process's loaded kernels (`symbols`: from
    `kernel_symbols()`, read when not given); return its path."""
    path = Path(f"/tmp/perf-{pid or os.getpid()}.map")
    symbols = kernel_symbols() if symbols is None else symbols
    lines = [f"{a:x} {size:x} {short_name(name)}\n" for a, size, name, _ in symbols]
    path.write_text("".join(lines))
    return path


def main(argv: list[str]) -> int:
    from benchmarks.ab import prepared_call
    from benchmarks.annotate import dump_code

    prepared = prepared_call(argv[:2])  # the kernels are now in memory
    if prepared is None:
        return 2
    what, n, fn = prepared
    calls = int(argv[2]) if len(argv) > 2 else 30
    symbols = kernel_symbols()
    path = write_perf_map(symbols=symbols)
    code_dir = path.with_suffix(".code")
    dump_code([(a, size, short_name(name)) for a, size, name, _ in symbols], code_dir)
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    dt = (time.perf_counter() - t0) / calls / n * 1e9
    print(f"{what}: {calls} calls × {n} spectra on 1 thread, {dt:.0f} ns per spectrum; "
          f"symbols in {path}, code in {code_dir} (python -m benchmarks.annotate)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
