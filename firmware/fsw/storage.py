"""Storage policy over mass memory: what may be written, and what gives way when it is full.

- Telemetry (`tm`): every packet gets its sequence count only once admitted under its APID's
  share of memory (see `store.PRIORITY`); a refused packet is counted and raises STORE_FULL
  once per episode (until the fill drops below `STORE_FULL_CLEAR`), so a refusal never
  leaves a gap in the counts and never passes silently.
- Products (`store_product`): within `product_share` of memory; when full, less valuable
  products are evicted for a more valuable one, else the new one is refused — each loss an
  event. `purge_products` is FDIR's answer to the storage monitor.
"""

from __future__ import annotations

from firmware.fsw.events import Ev, EventLog, Severity, pack_event
from firmware.fsw.products import Product, product_ok
from firmware.fsw.pus import TM_HEADER_LEN, Service, encode_tm
from firmware.fsw.store import MassMemory

STORE_FULL_CLEAR = 0.8  # fill fraction below which a new STORE_FULL episode may be reported


class Storage:
    def __init__(self, mass: MassMemory, epoch_unix_ms: int, product_share: float):
        self.mass = mass
        self.epoch_unix_ms = epoch_unix_ms
        self.product_share = product_share
        self.events: EventLog | None = None  # set once the event log exists (it uses `tm`)
        self._full_episode = False
        self._scrub_product = 0  # last product ID the scrub checked
        self.scrubbed_bytes = 0

    def tm(self, apid: int, service: int, subtype: int, data: bytes, t_ns: int) -> bool:
        """Store one TM packet (sequence count assigned here) or refuse it."""
        store, apid = self.mass.tm, int(apid)
        n_bytes = TM_HEADER_LEN + len(data) + 2
        if not store.admits(apid, n_bytes, self.mass.products.used_bytes):
            store.refuse(apid, n_bytes)
            if not self._full_episode and self.events is not None:
                self._full_episode = True  # set first: the event itself may be refused too
                fill = min(int(1000 * self.mass.fill_frac()), 0xFFFF)
                suppressed = sum(store.suppressed.values())
                self.events.raise_(t_ns, Ev.STORE_FULL, fill_permille=fill, suppressed=suppressed)
            return False
        counters = self.mass.counters
        seq = counters.next_seq(apid)
        msg = counters.next_msg(apid, int(service), int(subtype))
        raw = encode_tm(
            apid, service, subtype, data, seq_count=seq, msg_counter=msg, t_ns=t_ns,
            epoch_unix_ms=self.epoch_unix_ms,
        )  # fmt: skip
        store.append(apid, seq, raw)
        return True

    def _discarded(self, t_ns: int, product: Product) -> None:
        self.mass.products.discarded += 1
        pid, value = product.product_id, product.value
        self.events.raise_(t_ns, Ev.PRODUCT_DISCARDED, product_id=pid, value=value)

    def store_product(self, product: Product) -> bool:
        """Keep a product, evicting less valuable ones if its share of memory is full."""
        products = self.mass.products
        limit = self.product_share * self.mass.capacity_bytes - self.mass.tm.used_bytes
        while products.used_bytes + len(product.blob) > limit:
            worst = products.worst()
            if worst is None or worst.value >= product.value:
                products.refused_bytes += len(product.blob)
                self._discarded(product.created_ns, product)
                return False
            self._discarded(product.created_ns, products.remove(worst.product_id, "discarded"))
        products.add(product)
        return True

    def purge_products(self, target_ppm: int, t_ns: int) -> int:
        """Discard the least valuable products until mass memory is below `target_ppm`."""
        n, products, mass = 0, self.mass.products, self.mass
        while products.items and mass.used_bytes() > target_ppm * 1e-6 * mass.capacity_bytes:
            self._discarded(t_ns, products.remove(products.worst().product_id, "discarded"))
            n += 1
        return n

    def maintain(self) -> None:
        if self._full_episode and self.mass.fill_frac() < STORE_FULL_CLEAR:
            self._full_episode = False

    def drop_corrupted(self, product_id: int, t_ns: int) -> None:
        """A product whose CRC-32 no longer matches: discard it, with an event."""
        products = self.mass.products
        products.remove(product_id, "corrupted")
        products.discarded += 1
        self.events.raise_(t_ns, Ev.STORED_DATA_CORRUPTED, kind=1, apid=0, id=product_id)

    def scrub(self, t_ns: int, budget_bytes: int | None = None) -> int:
        """Memory scrub of mass memory (slow rate group): stored packets by their CRC-16,
        products by their CRC-32, `budget_bytes` per call (None: everything), resuming where
        the last call stopped. A damaged packet becomes a STORED_DATA_CORRUPTED event report
        under its own APID and count; a damaged product is discarded. Each an event."""
        events = self.events

        def replace(apid: int, seq: int) -> bytes:
            # onboard listeners hear of it; the report itself takes the damaged packet's place
            events.raise_(t_ns, Ev.STORED_DATA_CORRUPTED, emit=False, kind=0, apid=apid, id=seq)
            data = pack_event(Ev.STORED_DATA_CORRUPTED, kind=0, apid=apid, id=seq)
            msg = self.mass.counters.next_msg(apid, Service.EVENT, int(Severity.MEDIUM))
            sev = Severity.MEDIUM
            return encode_tm(apid, Service.EVENT, sev, data, seq_count=seq, msg_counter=msg,
                             t_ns=t_ns, epoch_unix_ms=self.epoch_unix_ms)  # fmt: skip

        n, read = self.mass.tm.scrub(replace, budget_bytes)
        products = self.mass.products
        # products: a slice per call too, in product-ID order after the last one checked
        left = None if budget_bytes is None else max(budget_bytes - read, budget_bytes // 4)
        ids = sorted(products.items)
        after = [pid for pid in ids if pid > self._scrub_product] or ids
        for pid in after:
            if left is not None and left <= 0:
                break
            blob = products.items[pid].blob
            read += len(blob)
            left = None if left is None else left - len(blob)
            self._scrub_product = pid
            if not product_ok(blob):
                self.drop_corrupted(pid, t_ns)
                n += 1
        else:
            self._scrub_product = 0  # a full round: start again from the first
        self.scrubbed_bytes += read
        return n
