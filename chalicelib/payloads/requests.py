"""The request bodies of the API, declared once (chalicelib/schema.py): each parses its body into a
domain value and is what the OpenAPI document publishes in components.schemas (requestBody).

Request schemas are exactly as strict as the server wherever a JSON Schema can say it (types,
required fields, unknown fields, enums, patterns); the rest is the field rules' (fields.py) and the
bodies' `build` (a NIR agreeing with sex and birth date, a device still listed on the sampling day,
one identifier of an invitation). Unknown fields are errors at every level.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chalicelib.domain import nir as nir_rules
from chalicelib.domain.commands import BatchItem, canonical_json
from chalicelib.domain.devices import device_list
from chalicelib.domain.errors import FieldError
from chalicelib.domain.model import Address, Patient, Role, ScreeningResult, ScreeningTest, Submission
from chalicelib.domain.opening_hours import WEEKDAYS
from chalicelib.domain.pharmacy_day import zone_of_finess
from chalicelib.payloads.fields import (
    ADDRESS_LINE,
    ADDRESS_LINE_MAX,
    BIRTH_DATE,
    BIRTH_PLACE,
    BOOLEAN,
    CITY,
    CITY_MAX,
    DEVICE_ID,
    EMAIL,
    EMAIL_FIELD,
    FINESS_NUMBER,
    HOURS_RANGES,
    IDENTITY_DOCUMENT,
    KIND,
    NAME,
    NAME_MAX,
    NATIONAL_ID_FIELD,
    NATIONAL_ID_KIND,
    NIR,
    PHARMACY_NAME,
    PHARMACY_NAME_MAX,
    PHONE,
    POSTAL_CODE,
    RESULT,
    ROLE_FIELD,
    RPPS_FIELD,
    RPPS_KIND,
    SAMPLED_AT,
    SEX,
    TIME_ZONE,
    UUID,
    UUID_PARAM,
    Context,
    require_aware,
)
from chalicelib.schema import Errors, Field, Obj, OneOf, Read, fail, kind, ref

# --- the bodies ----------------------------------------------------------------------------------------


def _address(read: Read) -> Address | None:
    if not read.has("line", "postal_code", "city"):
        return None
    return Address(line=read["line"], postal_code=read["postal_code"], city=read["city"])


ADDRESS_INPUT: Obj[Address] = Obj(
    [
        Field("line", ADDRESS_LINE, description=f"1 to {ADDRESS_LINE_MAX} characters."),
        Field(
            "postal_code",
            POSTAL_CODE,
            description="5 digits, a French département.",
        ),
        Field("city", CITY, description=f"1 to {CITY_MAX} characters."),
    ],
    _address,
    name="AddressInput",
)


def _patient(read: Read) -> Patient | None:
    nir = read["nir"]
    if nir is not None:
        for message in nir_rules.disagreements(nir, read["sex"], read["birth_date"]):
            read.error("nir", message)
    if not read.has("nir", "last_name", "first_name", "birth_date", "sex"):
        return None
    # An invalid optional field leaves None here; its error makes the whole parse fail anyway.
    return Patient(
        nir=nir,
        last_name=read["last_name"],
        first_name=read["first_name"],
        birth_date=read["birth_date"],
        sex=read["sex"],
        email=read["email"],
        phone=read["phone"],
        address=read["address"],
        birth_last_name=read["birth_last_name"],
        birth_first_names=read["birth_first_names"],
        birth_place=read["birth_place"],
        identity_document=read["identity_document"],
    )


PATIENT_INPUT: Obj[Patient] = Obj(
    [
        Field(
            "nir",
            NIR,
            description="15 digits with its key (spaces allowed; Corsica 2A/2B); key = 97 − "
            "(first 13 digits mod 97); must agree with sex and birth_date.",
        ),
        Field("last_name", NAME, description=f"Letters, 1 to {NAME_MAX}."),
        Field("first_name", NAME, description=f"Letters, 1 to {NAME_MAX}."),
        Field(
            "birth_date",
            BIRTH_DATE,
            description="1900-01-01 to today.",
        ),
        Field("sex", SEX),
        Field("email", EMAIL, required=False, nullable=True, description="Optional."),
        Field("phone", PHONE, required=False, nullable=True, description="Optional; stored in E.164."),
        Field("address", ADDRESS_INPUT, required=False, nullable=True),
        # the INS traits (the identity's status is never submitted)
        Field(
            "birth_last_name",
            NAME,
            required=False,
            nullable=True,
            description="Optional: the birth family name (nom de naissance), beside last_name.",
        ),
        Field(
            "birth_first_names",
            NAME,
            required=False,
            nullable=True,
            description="Optional: the first names as on the birth record, space-separated.",
        ),
        Field(
            "birth_place",
            BIRTH_PLACE,
            required=False,
            nullable=True,
            description="Optional: the INSEE code of the birth commune (2A/2B in Corsica), or 99 and "
            "the country's code for a birth abroad; checked against INSEE's list.",
        ),
        Field(
            "identity_document",
            IDENTITY_DOCUMENT,
            required=False,
            nullable=True,
            description="Optional: the identity document seen at the counter, or none.",
        ),
    ],
    _patient,
    name="PatientInput",
)


def _test(read: Read) -> ScreeningTest | None:
    if not read.has("kind", "device_id", "sampled_at"):
        return None
    device = device_list().get(read["device_id"])
    if device is not None and not device.usable_on(read["sampled_at"].date()):
        read.error("device_id", "was no longer on the EU common list on the sampling day")
        return None
    return ScreeningTest(
        kind=read["kind"], device_id=read["device_id"], sampled_at=read["sampled_at"], result=read["result"]
    )


TEST_INPUT: Obj[ScreeningTest] = Obj(
    [
        Field("kind", KIND),
        Field(
            "device_id",
            DEVICE_ID,
            description=lambda: (
                "The test device's id on the EU common list of rapid antigen tests (the "
                f"DCC value set of {device_list().value_set_date.isoformat()}); a device taken off the list "
                "is refused for tests sampled from the day it left."
            ),
        ),
        Field(
            "sampled_at",
            SAMPLED_AT,
            description="RFC 3339 with an offset; not in the future, within the retention period.",
        ),
        Field("result", RESULT, required=False, nullable=True, description="Null: pending."),
    ],
    _test,
    name="TestInput",
)

SUBMISSION: Obj[Submission] = Obj(
    [Field("patient", PATIENT_INPUT), Field("test", TEST_INPUT)],
    lambda read: (
        Submission(patient=read["patient"], test=read["test"]) if read.has("patient", "test") else None
    ),
    name="Submission",
)


# --- a batch of records ---------------------------------------------------------------------------------

BATCH_MAX_ITEMS = 100  # one request's records; also what the body size limit is checked against


def _key(value: object) -> str:
    if not isinstance(value, str) or not UUID.matches(value):
        fail("must be a UUID (8-4-4-4-12 hexadecimal digits)")
    return value.lower()


BATCH_ITEM: Obj[tuple[str, Submission]] = SUBMISSION.extended(
    [Field("key", kind(_key, UUID_PARAM), description="The item's idempotency key.")],
    name="BatchItem",
    description="A record as `POST /v1/tests` takes it, with its own idempotency key.",
    build=lambda read: (
        (read["key"], Submission(read["patient"], read["test"]))
        if read.has("key", "patient", "test")
        else None
    ),
)


def _items(value: object) -> list[object]:
    if not isinstance(value, list):
        fail("must be an array")
    if not 1 <= len(value) <= BATCH_MAX_ITEMS:
        fail(f"must hold 1 to {BATCH_MAX_ITEMS} items")
    return value


BATCH: Obj[list[object]] = Obj(
    [
        Field(
            "items",
            kind(
                _items,
                {"type": "array", "items": ref("BatchItem"), "minItems": 1, "maxItems": BATCH_MAX_ITEMS},
            ),
            description=f"1 to {BATCH_MAX_ITEMS} records; each is created, invalid or a conflict on its own.",
        )
    ],
    lambda read: read["items"],
    name="Batch",
)


# a tuple: the parsed value, null included (None alone would mean "nothing parsed")
RESULT_UPDATE: Obj[tuple[ScreeningResult | None]] = Obj(
    [Field("result", RESULT, nullable=True)],
    lambda read: (read["result"],),
    name="ResultUpdate",
    description="Null sets the record back to pending.",
)

PHARMACY_INPUT: Obj[tuple[str, str, str]] = Obj(
    [
        Field("finess", FINESS_NUMBER, description="9 characters with its Luhn key."),
        Field("name", PHARMACY_NAME, description=f"1 to {PHARMACY_NAME_MAX} characters."),
        Field(
            "time_zone",
            TIME_ZONE,
            required=False,
            description="Optional: the zone of the pharmacy's days (listing, today, statistics, "
            "retention); by default its FINESS département's. Fixed once onboarded.",
        ),
    ],
    lambda read: (
        (read["finess"], read["name"], read["time_zone"] or zone_of_finess(read["finess"]))
        if read.has("finess", "name")
        else None
    ),
    name="PharmacyInput",
)


@dataclass(frozen=True)
class Invitation:
    """Exactly one of `email` (a Cognito user) and `national_id` (a Pro Santé Connect professional)."""

    role: Role
    email: str | None = None
    national_id: str | None = None


def _invitation(read: Read) -> Invitation | None:
    raw = read.raw
    by_psc = "national_id" in raw or "rpps" in raw
    if not by_psc and raw.get("email") is None:
        read.error("email", "is required" if "email" not in raw else "must be a string")
    if by_psc and ("email" in raw or ("national_id" in raw and "rpps" in raw)):
        read.error("national_id", "send one of email, national_id and rpps")
    elif by_psc:  # the one identifier sent: null is no identifier (and would name no field)
        name = "national_id" if "national_id" in raw else "rpps"
        if raw[name] is None:
            read.error(name, "must be a string")
    email, national_id = read["email"], read["national_id"] or read["rpps"]
    if read["role"] is None or (email is None and national_id is None):
        return None
    return Invitation(role=read["role"], email=None if by_psc else email, national_id=national_id)


# One reader over the three shapes' fields (the same Field declarations), which decides the shape.
_ANY_INVITATION: Obj[Invitation] = Obj(
    [
        Field("email", EMAIL, required=False),
        Field("national_id", NATIONAL_ID_KIND, required=False),
        Field("rpps", RPPS_KIND, required=False),
        ROLE_FIELD,
    ],
    _invitation,
)
INVITATION: OneOf[Invitation] = OneOf(
    [Obj([EMAIL_FIELD, ROLE_FIELD]), Obj([NATIONAL_ID_FIELD, ROLE_FIELD]), Obj([RPPS_FIELD, ROLE_FIELD])],
    _ANY_INVITATION.read,
    name="Invitation",
    description="By e-mail: a Cognito invitation. By national identifier or RPPS: a Pro Santé Connect "
    "member, vouched for by PSC and the national directory at each login.",
)

OPENING_HOURS: Obj[dict[str, list[str]]] = Obj(
    [Field(day, HOURS_RANGES, required=False) for day in WEEKDAYS],
    lambda read: {day: read[day] for day in WEEKDAYS if read[day]},
    name="OpeningHours",
    description="Per weekday, the ranges the pharmacy's staff work (HH:MM-HH:MM, in its time zone); a "
    "day not named is closed. The journal's automatic review alerts on activity outside them.",
)
# What a settings body asks: psc_required (None: unchanged), the opening hours, and whether they
# were sent (null clears them).
SettingsInput = tuple[bool | None, dict[str, list[str]] | None, bool]


def _settings_input(read: Read) -> SettingsInput | None:
    hours_given = "opening_hours" in read.raw
    if read.raw.get("psc_required") is None and not hours_given:  # an invalid one has its own error
        read.error("psc_required", "send psc_required, opening_hours, or both")
        return None
    return read["psc_required"], read["opening_hours"], hours_given


PHARMACY_SETTINGS: Obj[SettingsInput] = Obj(
    [
        Field("psc_required", BOOLEAN, required=False),
        Field("opening_hours", OPENING_HOURS, required=False, nullable=True),
    ],
    _settings_input,
    name="PharmacySettings",
    description="psc_required: the pharmacy's pharmacists must log in with Pro Santé Connect (e-CPS); "
    "its admins keep their Cognito login. opening_hours: when its staff work (null: none declared, "
    "no outside-hours alert). Either or both.",
)

PATIENT_QUERY: Obj[str] = Obj(
    [Field("nir", NIR, description="The patient's NIR (spaces allowed).")],
    lambda read: read["nir"],
    name="PatientQuery",
    description="In the body, never in a URL: the NIR must not reach an access log.",
)


def _login(read: Read) -> str | None:
    if (read.raw.get("national_id") is None) == (read.raw.get("rpps") is None):
        read.error("national_id", "send exactly one of national_id and rpps")
        return None
    found: str | None = read["national_id"] or read["rpps"]
    return found


PSC_LOGIN_REQUEST: OneOf[str] = OneOf(
    [Obj([NATIONAL_ID_FIELD]), Obj([RPPS_FIELD])],
    Obj(
        [Field("national_id", NATIONAL_ID_KIND, required=False), Field("rpps", RPPS_KIND, required=False)],
        _login,
    ).read,
    name="PscLoginRequest",
)


# --- the parsers the services call -------------------------------------------------------------------


def parse_submission(
    body: object, *, now: datetime, max_age_days: int, clock_skew: timedelta = timedelta(minutes=5)
) -> Submission:
    """A POST /v1/tests body, fully validated and normalised (see CONTRACT.md, "A test record")."""
    require_aware(now)
    return SUBMISSION.parse(body, Context(now=now, max_age=timedelta(days=max_age_days), skew=clock_skew))


def parse_result_update(body: object) -> ScreeningResult | None:
    """A PUT /v1/tests/{id}/result body: `result` is required; null sets the record back to pending."""
    return RESULT_UPDATE.parse(body)[0]


def parse_pharmacy(body: object) -> tuple[str, str, str]:
    """A POST /v1/admin/pharmacies body: (finess, name, time zone). The zone, when not given, is
    the FINESS département's (chalicelib/domain/pharmacy_day.py)."""
    return PHARMACY_INPUT.parse(body)


def parse_invitation(body: object) -> Invitation:
    """A POST /v1/admin/pharmacies/{finess}/members body: `role` and `email` (a Cognito invitation),
    or `role` and one of `national_id` / `rpps` (a Pro Santé Connect member)."""
    return INVITATION.parse(body)


def parse_pharmacy_settings(body: object) -> SettingsInput:
    """A PUT /v1/admin/pharmacies/{finess}/settings body: `{"psc_required": true|false}`,
    `{"opening_hours": {"mon": ["08:30-19:30"], ...} | null}`, or both."""
    return PHARMACY_SETTINGS.parse(body)


def parse_patient_query(body: object) -> str:
    """`{"nir": "..."}` -> the normalised NIR."""
    return PATIENT_QUERY.parse(body)


def parse_login_request(body: object) -> str:
    """`{"national_id": "…"}` or `{"rpps": "<11 digits>"}`: the national identifier, upper-cased."""
    return PSC_LOGIN_REQUEST.parse(body)


def parse_batch(body: object, *, now: datetime, max_age_days: int) -> tuple[BatchItem, ...]:
    """A POST /v1/test-batches body: the batch's own shape is checked as a whole (ValidationFailed),
    then each item on its own, its errors named by JSON pointers (`/items/3/patient/nir`)."""
    require_aware(now)
    raw_items = BATCH.parse(body)
    context = Context(now=now, max_age=timedelta(days=max_age_days), skew=timedelta(minutes=5))
    return tuple(_batch_item(index, raw, context) for index, raw in enumerate(raw_items))


def _batch_item(index: int, raw: object, context: Context) -> BatchItem:
    errors = Errors()
    parsed = BATCH_ITEM.read(raw, "", errors, context)
    key = raw.get("key") if isinstance(raw, dict) else None
    shown_key = key.lower() if isinstance(key, str) and UUID.matches(key) else None
    if errors.items or parsed is None:
        pointed = tuple(replace(e, field=_pointer(index, e.field)) for e in errors.items)  # code and all
        return BatchItem(index, shown_key, None, pointed or (FieldError(f"/items/{index}", "is invalid"),))
    key, submission = parsed
    record = {name: value for name, value in raw.items() if name != "key"} if isinstance(raw, dict) else {}
    return BatchItem(index, key, submission, (), canonical_json(record))


def _pointer(index: int, field: str) -> str:
    """A field path of an item (`patient.nir`, or `body` for the item itself) as a JSON pointer
    into the batch; field names are identifiers or `?`, so nothing needs escaping."""
    return f"/items/{index}" if field == "body" else f"/items/{index}/" + field.replace(".", "/")
