"""INSi teleservice adapters.

The real client (SOAP over mutual TLS with the pharmacy's or the platform's certificate) is not
built yet: outside the local stage the service is wired to `NoInsi`, which never answers, so no
identity is recovered or qualified there until it is. `FakeInsi` stands in for INSi in the local
stack and the tests.
"""

from __future__ import annotations

from collections.abc import Mapping

from chalicelib.domain.identity import birth_place_of_nir
from chalicelib.ports import InsiUnavailable, InsTraits, NoInsi

__all__ = ["FakeInsi", "NoInsi"]


class FakeInsi:
    """A deterministic INSi. With a directory (NIR -> traits) it knows exactly those identities;
    without one it returns any identity whose NIR carries its birth place and birth month (what the
    RNIPP would hold), so that the local stack can recover identities typed at the counter."""

    def __init__(self, directory: Mapping[str, InsTraits] | None = None, *, down: bool = False) -> None:
        self._directory = dict(directory) if directory is not None else None
        self.down = down
        self.calls = 0

    def _answer(self) -> None:
        self.calls += 1
        if self.down:
            raise InsiUnavailable("the fake INSi is down")

    def search(self, traits: InsTraits) -> str | None:
        self._answer()
        if self._directory is None:
            return None  # without a directory the fake cannot invent a NIR
        found = [nir for nir, known in self._directory.items() if known == traits]
        return found[0] if len(found) == 1 else None

    def verify(self, nir: str, traits: InsTraits) -> bool:
        self._answer()
        if self._directory is not None:
            return self._directory.get(nir) == traits
        return (
            birth_place_of_nir(nir) == traits.birth_place
            and nir[3:5] == f"{traits.birth_date.month:02d}"
            and nir[1:3] == f"{traits.birth_date.year % 100:02d}"
        )
