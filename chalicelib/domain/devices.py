"""The EU common list of rapid antigen tests: which test devices a record may name. Pure.

The list is a dated snapshot of the EU Digital COVID Certificate value set
`covid-19-lab-test-manufacturer-and-name` (the JRC database's common list), shipped as
chalicelib/data/eu-dcc-rat-devices.json with its source and the day it was taken; docs/france.md
("Refreshing the device list") says how to replace it. Each entry has a display name, an `active`
flag and a `version` day: for an active device the day its entry last changed, for a device
taken off the list the day it left it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

SNAPSHOT = Path(__file__).resolve().parents[1] / "data" / "eu-dcc-rat-devices.json"


@dataclass(frozen=True)
class Device:
    id: str
    name: str
    active: bool
    since: date  # active: the entry's last change; inactive: the day it left the list

    def usable_on(self, day: date) -> bool:
        """A device taken off the list is refused for tests sampled from the day it left."""
        return self.active or day < self.since


@dataclass(frozen=True)
class DeviceList:
    value_set_date: date
    fetched: date
    source: str
    devices: dict[str, Device]

    def get(self, device_id: str) -> Device | None:
        return self.devices.get(device_id)


@lru_cache(maxsize=1)
def device_list() -> DeviceList:
    """The shipped snapshot, read once per process (about 20 kB)."""
    raw = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    return DeviceList(
        value_set_date=date.fromisoformat(raw["valueSetDate"]),
        fetched=date.fromisoformat(raw["fetched"]),
        source=raw["source"],
        devices={
            key: Device(key, entry["display"], bool(entry["active"]), date.fromisoformat(entry["version"]))
            for key, entry in raw["valueSetValues"].items()
        },
    )


def device_name(device_id: str) -> str | None:
    """The device's name on the list (None for an id the snapshot no longer has)."""
    device = device_list().get(device_id)
    return device.name if device else None
