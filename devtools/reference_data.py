"""Build the reference data shipped in chalicelib/data/ (not runtime code: the Lambda only reads
the files this writes).

    python -m devtools.reference_data devices <value set JSON> --fetched YYYY-MM-DD --origin TEXT
        the EU DCC value set `covid-19-lab-test-manufacturer-and-name` (docs/france.md, "Refreshing
        the device list", says where to get it), checked and written as
        chalicelib/data/eu-dcc-rat-devices.json

    python -m devtools.reference_data birthplaces <codes file>... --source TEXT
        INSEE codes (5 characters, one per line: communes past and present, and 99xxx countries)
        written compactly as chalicelib/data/insee-birth-places.txt: one line per 2-character
        prefix, then the 3-character suffixes as ranges ("01 001-012 014")
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "chalicelib" / "data"
DEVICES_FILE = DATA / "eu-dcc-rat-devices.json"
BIRTH_PLACES_FILE = DATA / "insee-birth-places.txt"
VALUE_SET_ID = "covid-19-lab-test-manufacturer-and-name"
_CODE = re.compile(r"[0-9][0-9AB][0-9]{3}")
_DEVICE_ID = re.compile(r"[0-9]{1,10}")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def devices(source: Path, fetched: str, origin: str) -> dict[str, object]:
    value_set = json.loads(source.read_text(encoding="utf-8"))
    if value_set.get("valueSetId") != VALUE_SET_ID:
        raise SystemExit(f"not the {VALUE_SET_ID} value set")
    values = value_set["valueSetValues"]
    for device_id, entry in values.items():
        if not _DEVICE_ID.fullmatch(device_id) or not isinstance(entry.get("active"), bool):
            raise SystemExit(f"unexpected entry {device_id!r}")
        if not _DAY.fullmatch(entry.get("version", "")) or not entry.get("display"):
            raise SystemExit(f"entry {device_id} lacks a display name or a version date")
    return {
        "valueSetId": VALUE_SET_ID,
        "valueSetDate": value_set["valueSetDate"],
        "source": origin,
        "fetched": fetched,
        "valueSetValues": {key: values[key] for key in sorted(values, key=int)},
    }


def _ranges(suffixes: list[int]) -> list[str]:
    out: list[str] = []
    start = previous = suffixes[0]
    for number in [*suffixes[1:], None]:
        if number is not None and number == previous + 1:
            previous = number
            continue
        out.append(f"{start:03d}" if start == previous else f"{start:03d}-{previous:03d}")
        if number is not None:
            start = previous = number
    return out


def birth_places(codes: set[str], source: str, prefix_only: list[str]) -> str:
    by_prefix: dict[str, list[int]] = {}
    for code in sorted(codes):
        if not _CODE.fullmatch(code):
            raise SystemExit(f"not an INSEE code: {code!r}")
        by_prefix.setdefault(code[:2], []).append(int(code[2:]))
    lines = [f"# {line}" for line in source.splitlines()]
    lines.append("# prefix-only: " + " ".join(prefix_only))
    lines += [f"{prefix} {' '.join(_ranges(sorted(set(s))))}" for prefix, s in sorted(by_prefix.items())]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="what", required=True)
    dev = sub.add_parser("devices")
    dev.add_argument("value_set", type=Path)
    dev.add_argument("--fetched", required=True, help="the day the value set was taken (YYYY-MM-DD)")
    dev.add_argument("--origin", required=True, help="where it was taken from (repository, path, commit)")
    bp = sub.add_parser("birthplaces")
    bp.add_argument("codes", type=Path, nargs="+")
    bp.add_argument("--source", required=True, help="the sources and their dates, for the file's header")
    bp.add_argument(
        "--prefix-only",
        default="975 977 978 984 986 987 988",
        help="3-digit territory codes whose communes no source lists: any 5-digit code under them",
    )
    args = parser.parse_args(argv)
    if args.what == "devices":
        snapshot = devices(args.value_set, args.fetched, args.origin)
        DEVICES_FILE.write_text(json.dumps(snapshot, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print(f"{DEVICES_FILE}: {len(snapshot['valueSetValues'])} devices")  # type: ignore[arg-type]
    else:
        codes = {
            line.strip() for path in args.codes for line in path.read_text().splitlines() if line.strip()
        }
        BIRTH_PLACES_FILE.write_text(
            birth_places(codes, args.source, args.prefix_only.split()), encoding="utf-8"
        )
        print(f"{BIRTH_PLACES_FILE}: {len(codes)} codes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
