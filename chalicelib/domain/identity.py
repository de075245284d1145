"""The patient's national health identity (INS): how it was checked and how far it can be trusted.
Pure.

France's INS référentiel (identitovigilance) gives an identity one of four statuses, from what was
checked, never from what a client claims:

    provisional   nothing checked (or a document that does not count, with no INSi answer)
    recovered     the INSi teleservice of the Assurance Maladie returned this identity
    validated     a high-trust identity document was seen at the counter
    qualified     both: the only status under which the INS (the NIR under the INS OID) may be
                  used and transmitted as such

High-trust documents (FR Core's INS validation modes): a passport or a national identity card;
for a minor, the family record book or a birth certificate extract.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum


class IdentityDocument(StrEnum):
    """The identity document the pharmacist saw at the counter (FR Core INS validation mode)."""

    PASSPORT = "passport"  # PA
    IDENTITY_CARD = "identity_card"  # CN: carte nationale d'identité
    BIRTH_CERTIFICATE = "birth_certificate"  # AN: extrait d'acte de naissance
    FAMILY_RECORD_BOOK = "family_record_book"  # LE: livret de famille
    NONE = "none"


class IdentityStatus(StrEnum):
    PROVISIONAL = "provisional"
    RECOVERED = "recovered"
    VALIDATED = "validated"
    QUALIFIED = "qualified"


# Documents that validate an identity for anyone, and those that do only for a minor.
_HIGH_TRUST = frozenset({IdentityDocument.PASSPORT, IdentityDocument.IDENTITY_CARD})
_MINORS_ONLY = frozenset({IdentityDocument.BIRTH_CERTIFICATE, IdentityDocument.FAMILY_RECORD_BOOK})
MAJORITY_AGE = 18


def age_on(birth_date: date, day: date) -> int:
    years = day.year - birth_date.year
    return years - ((day.month, day.day) < (birth_date.month, birth_date.day))


def document_validates(document: IdentityDocument | None, birth_date: date, day: date) -> bool:
    """Whether the document seen validates the identity (high trust) on `day`."""
    if document in _HIGH_TRUST:
        return True
    return document in _MINORS_ONLY and age_on(birth_date, day) < MAJORITY_AGE


def reliability(*, document_validates: bool, insi_confirmed: bool) -> IdentityStatus:
    """The status from the two checks."""
    if document_validates and insi_confirmed:
        return IdentityStatus.QUALIFIED
    if insi_confirmed:
        return IdentityStatus.RECOVERED
    if document_validates:
        return IdentityStatus.VALIDATED
    return IdentityStatus.PROVISIONAL


def birth_place_of_nir(nir: str) -> str:
    """The INSEE birth place code a NIR carries (its characters 6 to 10: département or 99, then
    commune or country)."""
    return nir[5:10]
