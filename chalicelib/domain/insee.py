"""INSEE codes of birth places: communes (past and present, since 1943) and countries (99xxx).
Pure.

The shipped list is chalicelib/data/insee-birth-places.txt (its header names the sources and
their dates; devtools/reference_data.py builds it): one line per 2-character prefix with the
3-character suffixes as ranges. For the collectivités d'outre-mer it lists (`prefix-only`) no
source had their communes: any code under those 3-digit territory codes is taken.
"""

from __future__ import annotations

import bisect
from functools import lru_cache
from pathlib import Path

LIST_FILE = Path(__file__).resolve().parents[1] / "data" / "insee-birth-places.txt"


@lru_cache(maxsize=1)
def _ranges() -> tuple[dict[str, tuple[list[int], list[int]]], tuple[str, ...]]:
    """prefix -> (range starts, range ends), both sorted; and the prefix-only territory codes. Kept as
    ranges (a few thousand numbers), never expanded: reading it costs about a millisecond."""
    ranges: dict[str, tuple[list[int], list[int]]] = {}
    prefix_only: tuple[str, ...] = ()
    for line in LIST_FILE.read_text(encoding="utf-8").splitlines():
        if line.startswith("# prefix-only:"):
            prefix_only = tuple(line.removeprefix("# prefix-only:").split())
            continue
        if not line or line.startswith("#"):
            continue
        prefix, *items = line.split()
        starts, ends = ranges.setdefault(prefix, ([], []))
        for item in items:
            first, _, last = item.partition("-")
            starts.append(int(first))
            ends.append(int(last or first))
    return ranges, prefix_only


def is_birth_place(code: str) -> bool:
    """Whether `code` (5 characters) names a commune (2A/2B for Corsica) or a country (99xxx)."""
    if len(code) != 5 or not code[2:].isdigit():
        return False
    ranges, prefix_only = _ranges()
    if code[:3] in prefix_only:
        return True
    found = ranges.get(code[:2])
    if found is None:
        return False
    starts, ends = found
    number = int(code[2:])
    index = bisect.bisect_right(starts, number) - 1
    return index >= 0 and number <= ends[index]


def is_abroad(code: str) -> bool:
    return code.startswith("99")
