"""The French NIR (numéro de sécurité sociale): format, key, and what it says about its holder.

The key arithmetic and Corsica's 2A/2B substitution come from python-stdnum; this module adds what
stdnum does not check: the sex digit, the birth-month range, and agreement with the declared sex
and birth date. Messages name rules only, never the number.

Layout (INSEE): S YY MM DDCCC OOO KK
- S: 1 or 2 (man, woman); 3 or 4 (born abroad, registration pending); 7 or 8 (temporary number).
  Odd means male, even means female.
- YY: birth year modulo 100.
- MM: birth month 01–12; 20–42 or 50–99 when the civil-status document gave no usable month
  (then nothing can be checked). 00, 13–19 and 43–49 are never issued.
- KK: 97 − (the first 13 digits mod 97), with 2A read as 19 and 2B as 18.
"""

from __future__ import annotations

from datetime import date

from chalicelib.domain.errors import Rule
from chalicelib.domain.model import Sex

LENGTH = 15
# Generous bound on the raw input (15 characters plus separators) so nothing huge is processed.
MAX_INPUT_LENGTH = 40

_SEX_BY_DIGIT = {"1": Sex.M, "3": Sex.M, "7": Sex.M, "2": Sex.F, "4": Sex.F, "8": Sex.F}


# The NIR's rules, each with its stable code (chalicelib/domain/errors.py Rule).
NIR_LENGTH = Rule("nir_length", "must have 15 characters (13 plus a 2-digit key)")
NIR_CHECKSUM = Rule("nir_checksum", "has a wrong key")
NIR_CHARACTERS = Rule("nir_characters", "must contain digits only (2A or 2B for Corsica)")
NIR_SEX_DIGIT = Rule("nir_sex_digit", "must start with 1, 2, 3, 4, 7 or 8")
NIR_BIRTH_MONTH = Rule("nir_birth_month", "has an invalid birth month")
NIR_SEX_MISMATCH = Rule("nir_sex_mismatch", "does not agree with patient.sex")
NIR_BIRTH_DATE_MISMATCH = Rule("nir_birth_date_mismatch", "does not agree with patient.birth_date")


class InvalidNir(ValueError):
    """The NIR is malformed or contradicts the patient; its rule's message never contains the number."""

    def __init__(self, rule: Rule) -> None:
        super().__init__(rule.message)
        self.rule = rule
        self.message = rule.message


def _birth_month_known(month: int) -> bool:
    return 1 <= month <= 12


def _birth_month_issued(month: int) -> bool:
    return 1 <= month <= 12 or 20 <= month <= 42 or month >= 50


def normalise(raw: str) -> str:
    """Validate `raw` (spaces and dots allowed) and return its 15-character form, 2A/2B upper-case."""
    # python-stdnum is read when first needed: its utilities import pydoc (about a tenth of the API
    # function's import time), which a cold start that validates no NIR should not pay.
    from stdnum import exceptions as stdnum_errors
    from stdnum.fr import nir as stdnum_nir

    if len(raw) > MAX_INPUT_LENGTH:
        raise InvalidNir(NIR_LENGTH)
    number = stdnum_nir.compact(raw)
    if len(number) != LENGTH:
        raise InvalidNir(NIR_LENGTH)
    try:
        number = stdnum_nir.validate(number)
    except stdnum_errors.InvalidChecksum:
        raise InvalidNir(NIR_CHECKSUM) from None
    except stdnum_errors.ValidationError:
        raise InvalidNir(NIR_CHARACTERS) from None
    if number[0] not in _SEX_BY_DIGIT:
        raise InvalidNir(NIR_SEX_DIGIT)
    if not _birth_month_issued(int(number[3:5])):
        raise InvalidNir(NIR_BIRTH_MONTH)
    return number


def sex_of(number: str) -> Sex:
    """The sex a normalised NIR encodes."""
    return _SEX_BY_DIGIT[number[0]]


def birth_year_mod_100(number: str) -> int:
    return int(number[1:3])


def birth_month(number: str) -> int | None:
    """The birth month a normalised NIR encodes, or None when it encodes an unknown month."""
    month = int(number[3:5])
    return month if _birth_month_known(month) else None


def disagreements(number: str, sex: Sex | None, birth_date: date | None) -> list[Rule]:
    """Why a normalised NIR contradicts the declared sex and birth date (empty when it agrees).

    A None sex or birth date (itself invalid, reported elsewhere) is not checked.
    """
    problems: list[Rule] = []
    if sex is not None and sex_of(number) != sex:
        problems.append(NIR_SEX_MISMATCH)
    if birth_date is not None:
        month = birth_month(number)
        year_differs = birth_year_mod_100(number) != birth_date.year % 100
        month_differs = month is not None and month != birth_date.month
        if year_differs or month_differs:
            problems.append(NIR_BIRTH_DATE_MISMATCH)
    return problems
