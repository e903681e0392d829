"""Single-event upsets: bits flipped in the flight computer's memories.

- `flip_model_bits`: in the classifier's constants in RAM — the very arrays of
  `firmware.taxonomy.load_demeo_model()` that the spectral core reads, so an upset changes
  classifications until the flight software notices (checksum) and repairs them (reload).
  Those arrays are shared by everything in this Python process, so every flip is recorded
  and `restore_model()` puts back whatever the flight software left corrupted when a
  mission ends: the next mission (or test) must not inherit this one's radiation.
- `flip_stored_bits`: in mass memory — a stored telemetry packet or a science product.

Which word and which bit are drawn from the mission's `upsets` random stream (seeded), so a
run repeats exactly. A float64 word has 64 bits; flips are uniform over them (an upset in the
exponent is as likely as one in the low mantissa).
"""

from __future__ import annotations

import dataclasses

import numpy as np

MODEL_ARRAYS_READ = ("eigenvectors", "data_mean", "template_mean")  # used as stored by the kernels
_ORIGINALS: dict[tuple[str, int], np.float64] = {}  # (array, flat index) → pristine value


def _model():
    from firmware.taxonomy import load_demeo_model

    return load_demeo_model()


def _warm_up(model) -> None:
    """Classify once before the first upset: the core derives and caches a few tables from
    the constants on its first call, and must derive them from pristine ones (the flight
    software's reload repairs the constants, not a cache it does not know of)."""
    from firmware.busdemeo import classify

    classify(model.grid_um, model.template_mean[0])


def flip_model_bits(rng: np.random.Generator, bits: int, array: str = "any") -> list[str]:
    """Flip `bits` bits in the live model constants; returns what was hit, one line each."""
    model = _model()
    if not _ORIGINALS:
        _warm_up(model)
    out = []
    for _ in range(bits):
        name = MODEL_ARRAYS_READ[int(rng.integers(3))] if array == "any" else array
        arr = getattr(model, name)
        flat = arr.reshape(-1)  # a view: the arrays are C-contiguous
        i = int(rng.integers(flat.size))
        bit = int(rng.integers(64))
        _ORIGINALS.setdefault((name, i), flat[i].copy())
        word = flat[i : i + 1].view(np.uint64)
        word ^= np.uint64(1) << np.uint64(bit)
        out.append(f"{name}[{i}] bit {bit}: {float(_ORIGINALS[(name, i)])!r} → {float(flat[i])!r}")
    return out


def restore_model() -> int:
    """Put back every model word an upset changed and nobody repaired; returns how many."""
    model = _model()
    n = 0
    for (name, i), good in _ORIGINALS.items():
        flat = getattr(model, name).reshape(-1)
        if flat[i].tobytes() != good.tobytes():
            flat[i] = good
            n += 1
    _ORIGINALS.clear()
    return n


def _flip(data: bytes, rng: np.random.Generator) -> tuple[bytes, int]:
    b = bytearray(data)
    bit = int(rng.integers(len(b) * 8))
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b), bit


def flip_stored_bits(onboard, rng: np.random.Generator, bits: int, region: str = "any") -> list[str]:
    """Flip `bits` bits in what the onboard software holds in mass memory.

    The flight executive (`firmware.fsw.computer.FswComputer`): stored TM packets and
    products; the simple loop (`firmware.onboard.OnboardLoop`): its products."""
    out = []
    for _ in range(bits):
        targets = _targets(onboard, region)
        if not targets:
            out.append(f"nothing stored in {region}: upset hit empty memory")
            continue
        kind, obj, attr = targets[int(rng.integers(len(targets)))]
        new, bit = _flip(getattr(obj, attr), rng)
        if dataclasses.is_dataclass(obj) and obj.__dataclass_params__.frozen:
            onboard.store[obj.product_id] = dataclasses.replace(obj, **{attr: new})
        else:
            setattr(obj, attr, new)
        out.append(f"{kind} bit {bit}")
    return out


def _targets(onboard, region: str) -> list[tuple[str, object, str]]:
    exe = getattr(onboard, "exe", None)
    if exe is None:  # the simple loop: products only
        return [(f"product {p.product_id}", p, "payload") for p in onboard.store.values()]
    out = []
    if region in ("any", "telemetry"):
        for apid, q in sorted(exe.mass.tm.queues.items()):
            out += [(f"packet APID {apid:#x} count {s.seq}", s, "raw") for s in q]
    if region in ("any", "products"):
        items = sorted(exe.mass.products.items.items())
        out += [(f"product {pid}", p, "blob") for pid, p in items]
    return out
