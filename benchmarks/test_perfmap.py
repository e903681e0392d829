"""The perf symbol map still finds numba's kernels (numba internals can move under it)."""

from __future__ import annotations

import ctypes

import numpy as np

from benchmarks.data import make_inputs
from benchmarks.perfmap import kernel_symbols, short_name, write_perf_map
from firmware import bands


def test_short_name_reads_numbas_mangling():
    mangled = "_ZN8firmware7kernels5bands8_fit_minB3v52B90c8tJTIeFIjxB2IKSgI4CrvQCk0Z4yRYc"
    assert short_name(mangled) == "firmware.kernels.bands._fit_min"
    assert short_name("memset") == "memset"


def test_map_names_the_survey_kernels_at_distinct_addresses(tmp_path):
    axis, x, _ = make_inputs(200)
    bands.survey_batch(axis, x)  # the kernels are loaded (compiled or from the cache)
    syms = kernel_symbols()
    names = {short_name(name) for _, _, name, _ in syms}
    for kernel in ("bands._fit_min", "features.features_block", "demeo_block.chi2_block",
                   "pipeline.taps_block"):  # fmt: skip
        assert f"firmware.kernels.{kernel}" in names
    # each address holds the code the map says: the process's memory there starts with the
    # first 16 bytes of that function in the cached object, unless a relocation (a constant's
    # address) falls in them — measured: 81 % of the functions match, and 2 % when every
    # address is paired with the next function's code
    same = [ctypes.string_at(a, 16) == code for a, size, _, code in syms if size >= 16]
    assert np.mean(same) > 0.5
    path = write_perf_map(pid=999_999_999)
    try:
        lines = path.read_text().splitlines()
        assert len(lines) == len(syms)
        a, s, name = lines[0].split(maxsplit=2)
        assert int(a, 16) == syms[0][0] and int(s, 16) == syms[0][1]
    finally:
        path.unlink()


def test_code_dump_and_annotation_find_the_hot_instruction(tmp_path):
    import shutil
    from collections import Counter

    import pytest

    from benchmarks.annotate import disassemble, dump_code, hot_lines

    axis, x, _ = make_inputs(200)
    bands.survey_batch(axis, x)
    syms = [(a, size, short_name(name)) for a, size, name, _ in kernel_symbols()]
    index = dump_code(syms, tmp_path)
    assert len(index) == len(syms)  # a name loaded twice keeps both copies
    for key, (address, size) in index.items():
        assert (tmp_path / f"{key}.bin").read_bytes() == ctypes.string_at(address, size)
    key = next(k for k in index if k.startswith("firmware.kernels.pipeline.taps_block"))
    address, size = index[key]
    code = (tmp_path / f"{key}.bin").read_bytes()
    if shutil.which("objdump") is None:
        pytest.skip("objdump not installed (binutils): the disassembly is not checked")
    instructions = disassemble(code, address)
    assert instructions[0][0] == address and len(instructions) > 20
    hot_address, hot_text = instructions[len(instructions) // 2]
    lines = hot_lines(instructions, Counter({hot_address: 7, address: 1}), top=1)
    assert any(line.startswith("     7  87.5%") and line.endswith(hot_text) for line in lines)
    assert not any(line.startswith("     1 ") for line in lines)  # only the top one and its context
