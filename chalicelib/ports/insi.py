"""The INSi teleservice: the national identity (INS) searched or verified by its traits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol


class InsiUnavailable(Exception):
    """The INSi teleservice did not answer (the identity then stays at what the counter checked)."""


@dataclass(frozen=True)
class InsTraits:
    """The traits INSi searches by (référentiel INS); no NIR."""

    birth_last_name: str
    birth_first_names: str
    birth_date: date
    sex: str  # "F" | "M"
    birth_place: str  # INSEE code


class InsiTeleservice(Protocol):
    """The Assurance Maladie's INSi teleservice: search an identity by its traits, or verify that a
    NIR goes with them. Raises InsiUnavailable when it cannot answer."""

    def search(self, traits: InsTraits) -> str | None:
        """The NIR (INS matricule) of the one identity with these traits, or None."""
        ...

    def verify(self, nir: str, traits: InsTraits) -> bool:
        """Whether INSi returns this NIR with these traits."""
        ...


class NoInsi:
    """No INSi client yet (the real SOAP client is to come): every call is unavailable, so the
    counter's checks alone set the status."""

    def search(self, traits: InsTraits) -> str | None:
        raise InsiUnavailable("no INSi client is configured")

    def verify(self, nir: str, traits: InsTraits) -> bool:
        raise InsiUnavailable("no INSi client is configured")
