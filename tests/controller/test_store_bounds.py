"""What a row keeps is bounded (review 2026-12-07, F4: a 6-candidate search made a 294 MB
store, 20 MB per error): errors and status messages are cut to ``MAX_MESSAGE`` characters
on the way in, on every engine, however they reached the store."""

from __future__ import annotations

from lts.controller.search.config import SearchConfig
from lts.controller.search.runner import start_search
from lts.controller.store import Store
from lts.controller.store.models import MAX_MESSAGE
from lts.shared.config import ArchConfig
from lts.shared.schemas import DeviceInfo, MeasureSettings
from lts.shared.space import default_space

TINY = ArchConfig.from_dict({"backbone": "gpt2", "n_layer": 1, "d_model": 64, "n_head": 2,
                             "d_inner": 128, "n_token": 1000, "cutoffs": [200, 500]})  # fmt: skip
HUGE = "E" * (5 << 20)


def test_errors_and_messages_are_cut_to_their_bound(store_url: str) -> None:
    with Store(store_url) as store:
        info = DeviceInfo(name="d", fingerprint="f" * 16, hostname="h", os="linux",
                          machine="x86_64", cpu_model="c", cores_logical=1,
                          memory_total_mb=1.0, defaults=MeasureSettings())  # fmt: skip
        device = store.upsert_device("d", info)
        key = MeasureSettings().cache_key()
        record, _ = store.add_measurement(TINY, device.id, key, status="failed", error=HUGE)
        (stored,) = store.measurements_of(TINY.arch_id)
        assert stored.error is not None and len(stored.error) == MAX_MESSAGE
        assert stored.error.endswith("[cut]") and record.id == stored.id
        search = start_search(store, SearchConfig.build(agents=["d"],
                                                        space=default_space("gpt2").to_dict()))
        store.set_search_status(search.id, "failed", HUGE)
        assert len(store.get_search(search.id).message or "") == MAX_MESSAGE
        (sd,) = store.search_devices(search.id)
        store.update_search_device(sd.id, status="failed", message=HUGE)
        assert len(store.search_devices(search.id)[0].message or "") == MAX_MESSAGE
