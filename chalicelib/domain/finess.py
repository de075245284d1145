"""A FINESS number, the one rule: a département code (01-95 but not 20, Corsica's 2A/2B, 97 or 98),
7 digits, the last a Luhn key. The API's parser (chalicelib/payloads/) and the audit journal's
chain names (chalicelib/domain/audit_chain.py) both apply it. Pure."""

from __future__ import annotations

import re

# Written without a top-level alternation, so that anchoring keeps its meaning (schema.Pattern).
FINESS_REGEX = "(0[1-9]|1[0-9]|2[1-9ABab]|[3-8][0-9]|9[0-5]|97|98)[0-9]{7}"
_CANONICAL = re.compile(FINESS_REGEX.replace("ABab", "AB"))


def finess_digits(number: str) -> str:
    # FINESS computes Corsica's key with A and B read as 0.
    return number.upper().replace("A", "0").replace("B", "0")


def has_valid_key(number: str) -> bool:
    from stdnum import luhn  # when first needed: python-stdnum imports pydoc (chalicelib/domain/nir.py)

    return bool(luhn.is_valid(finess_digits(number)))


def check_digit(prefix8: str) -> str:
    from stdnum import luhn

    return str(luhn.calc_check_digit(finess_digits(prefix8)))


def is_finess(value: object) -> bool:
    """True for a FINESS number in its canonical (upper-case) form, key valid; never raises."""
    return (
        isinstance(value, str)
        and len(value) == 9
        and _CANONICAL.fullmatch(value) is not None
        and has_valid_key(value)
    )
