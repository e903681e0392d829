"""Energy and storage budgets, with their conservation residuals.

Energy: battery change = charged − discharged − fault losses; solar = to loads + to
charging + spilled; demand = from solar + from battery + unserved. Storage: held = produced
− downlinked − dropped − repackaged (bytes rewritten in another form: a product cut into
downlink packets), and the device's count equals the flight software's catalogue. For the
flight executive "downlinked" means acknowledged by the ground (store-and-forward).
Residuals are reported (and asserted ≈ 0 by the tests), not assumed.
"""

from __future__ import annotations

from sim.power import J_PER_WH


def _wh(j: float) -> float:
    return round(j / J_PER_WH, 6)


def energy_budget(mission) -> dict:
    pw = mission.power
    L = pw.ledger
    battery_change = pw.energy_j - pw.initial_energy_j
    return {
        "battery_capacity_wh": pw.capacity_j / J_PER_WH,
        "soc_initial": round(pw.initial_energy_j / pw.capacity_j, 6), "soc_final": round(pw.soc, 6),
        "soc_min": round(pw.min_soc, 6),
        "solar_wh": _wh(L["solar_j"]), "demand_wh": _wh(L["demand_j"]),
        "from_solar_wh": _wh(L["from_solar_j"]), "from_battery_wh": _wh(L["from_battery_j"]),
        "unserved_wh": _wh(L["unserved_j"]), "charged_wh": _wh(L["charge_in_j"]),
        "discharged_wh": _wh(L["discharge_out_j"]), "spilled_wh": _wh(L["spilled_j"]),
        "conversion_losses_wh": _wh(L["charge_drawn_j"] - L["charge_in_j"] + L["discharge_out_j"] - L["from_battery_j"]),
        "fault_loss_wh": _wh(L["fault_loss_j"]),
        "classifier_compute_wh": _wh(L["cpu_j"]), "transmitter_wh": _wh(L["tx_j"]),
        "residual_battery_wh": battery_change / J_PER_WH - (L["charge_in_j"] - L["discharge_out_j"] - L["fault_loss_j"]) / J_PER_WH,
        "residual_solar_wh": (L["solar_j"] - L["from_solar_j"] - L["charge_drawn_j"] - L["spilled_j"]) / J_PER_WH,
        "residual_demand_wh": (L["demand_j"] - L["from_solar_j"] - L["from_battery_j"] - L["unserved_j"]) / J_PER_WH,
    }  # fmt: skip


def storage_budget(mission) -> dict:
    st = mission.storage
    onboard = mission.extra["onboard"]
    return {
        "capacity_bytes": st.capacity, "peak_bytes": st.peak, "held_at_end_bytes": st.used,
        "produced_bytes": st.produced, "downlinked_bytes": st.downlinked,
        "dropped_bytes": st.deleted + st.refused, "deleted_for_room_bytes": st.deleted,
        "refused_bytes": st.refused, "repackaged_bytes": st.repackaged,
        "residual_bytes": st.produced - st.downlinked - (st.deleted + st.refused) - st.repackaged - st.used,
        "catalogue_bytes": getattr(onboard, "used_bytes", None),
        **({"removed_by_reason_bytes": onboard.removed_by_reason} if hasattr(onboard, "removed_by_reason") else {}),
    }  # fmt: skip
