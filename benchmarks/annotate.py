"""Which instructions of a numba kernel the samples of `perf record` fall on.

    perf record -o perf.data python -m benchmarks.perfmap stage 200000 40
    python -m benchmarks.annotate perf.data /tmp/perf-<pid>.code firmware.kernels.thermal.thermal_block [TOP]

`perf annotate` cannot show numba's code: it lives in anonymous memory, and the symbol map
(`benchmarks.perfmap`) gives only names and address ranges. `benchmarks.perfmap` therefore
also dumps each kernel's machine code from the running process into `/tmp/perf-<pid>.code/`
(`dump_code`: one `.bin` per function and `index.json` with its address and size); this
module counts the samples per instruction address (`perf script -F ip`), disassembles the
dump with `objdump` at its run-time address and prints the hottest instructions with a few
around each. Round 7 of issue 5 (README, "Benchmarks") found this way that two vectorised
loops ran their scalar fallback (no `ymm` instructions where the samples were).
"""

from __future__ import annotations

import ctypes
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

NAME_MAX = 120  # characters of a kernel's name kept in its file name (mangled names are long)


def dump_code(symbols: list[tuple[int, int, str]], directory: Path) -> dict[str, tuple[int, int]]:
    """Write the code of each (address, size, name) of this process to `directory`: one
    `<key>.bin` per function and `index.json` {key: [address, size]}; returns the index. The
    key is the name; a name loaded more than once (one copy per kernel that calls it, or one
    per signature) gets `@<address>` appended to every copy after the first."""
    directory.mkdir(parents=True, exist_ok=True)
    index = {}
    for address, size, name in symbols:
        key = name[:NAME_MAX]
        if key in index:
            key = f"{key}@{address:x}"
        (directory / f"{key}.bin").write_bytes(ctypes.string_at(address, size))
        index[key] = (address, size)
    (directory / "index.json").write_text(json.dumps(index))
    return index


def disassemble(code: bytes, address: int) -> list[tuple[int, str]]:
    """(address, instruction text) of x86-64 machine code loaded at `address` (objdump)."""
    if shutil.which("objdump") is None:
        raise RuntimeError("objdump not found: install binutils (apt install binutils)")
    with tempfile.NamedTemporaryFile(suffix=".bin") as tmp:
        tmp.write(code)
        tmp.flush()
        text = subprocess.run(
            ["objdump", "-D", "-b", "binary", "-mi386:x86-64", f"--adjust-vma={address}", tmp.name],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    out = []
    for line in text.splitlines():
        m = re.match(r"\s*([0-9a-f]+):\s+(?:[0-9a-f]{2} )+\s*(.*)", line)
        if m and m.group(2).strip():
            out.append((int(m.group(1), 16), m.group(2).strip()))
    return out


def hot_lines(instructions: list[tuple[int, str]], samples: Counter, top: int = 40,
              context: int = 6) -> list[str]:  # fmt: skip
    """Lines `count share% offset: instruction` for the `top` most sampled instructions and
    `context` before each (a sample lands on the instruction after the one that waited);
    `...` between separate stretches."""
    total = sum(samples[a] for a, _ in instructions) or 1
    hot = {a for a, _ in sorted(((a, samples[a]) for a, _ in instructions), key=lambda t: -t[1])[:top]
           if samples[a]}  # fmt: skip
    keep = set()
    for k, (a, _) in enumerate(instructions):
        if a in hot:
            keep.update(range(max(0, k - context), min(len(instructions), k + 3)))
    start = instructions[0][0] if instructions else 0
    lines, previous = [], -2
    for k in sorted(keep):
        if k != previous + 1:
            lines.append("   ...")
        a, text = instructions[k]
        lines.append(f"{samples[a]:6d} {100 * samples[a] / total:5.1f}% {a - start:6x}: {text}")
        previous = k
    return lines


def sample_addresses(perf_data: Path) -> Counter:
    """Samples per instruction address in a `perf record` file (`perf script -F ip`)."""
    text = subprocess.run(["perf", "script", "-i", str(perf_data), "-F", "ip"],
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    return Counter(int(word, 16) for word in text.split())


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    perf_data, code_dir, name = Path(argv[0]), Path(argv[1]), argv[2]
    top = int(argv[3]) if len(argv) > 3 else 40
    index = json.loads((code_dir / "index.json").read_text())
    matches = [k for k in index if k.split("@")[0] == name[:NAME_MAX]]
    matches = matches or [k for k in index if name in k]
    names = {k.split("@")[0] for k in matches}
    if len(names) != 1:
        print(f"{name!r} names {len(names)} kernels in {code_dir}: "
              f"{', '.join(sorted(names)[:5]) or 'none'}", file=sys.stderr)  # fmt: skip
        return 2
    samples = sample_addresses(perf_data)

    def sampled(key):
        address, size = index[key]
        return sum(c for a, c in samples.items() if address <= a < address + size)

    key = max(matches, key=sampled)  # of several loaded copies, the one that ran
    address, _size = index[key]
    instructions = disassemble((code_dir / f"{key}.bin").read_bytes(), address)
    note = f" (the most sampled of {len(matches)} copies)" if len(matches) > 1 else ""
    print(f"{key}: {sampled(key)} of {sum(samples.values())} samples{note}")
    print("\n".join(hot_lines(instructions, samples, top)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
