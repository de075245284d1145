"""The response bodies of the API, declared once (chalicelib/schema.py): what the OpenAPI document
publishes in components.schemas, and what renders each body from its domain value at the edge
(`SHAPE.render(value)`, chalicelib/api/routing.py), so the two cannot disagree.

A field reads its value from the domain value by its name (an attribute) unless it names its
`source` (a derived value: a device's name, a delivery's step); its kind dumps it (enums as their
value, dates as ISO 8601, TIMESTAMP in UTC with a Z). Key order is the declared order."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.alerts import DETECTORS
from chalicelib.domain.delivery import ErrorCategory, Journey, failure_category, journey, rejection
from chalicelib.domain.devices import device_name
from chalicelib.domain.identity import IdentityStatus
from chalicelib.domain.model import DeliveryState, MessageKind
from chalicelib.domain.outcomes import ItemOutcome
from chalicelib.payloads.fields import (
    BOOLEAN,
    COUNT,
    ID,
    IDENTITY_DOCUMENT,
    KIND,
    NORMALISED_NIR,
    POSITIVE,
    RESULT,
    ROLE_FIELD,
    SEX,
    STATUS,
    TIME_ZONE,
    TIMESTAMP,
)
from chalicelib.payloads.requests import OPENING_HOURS
from chalicelib.schema import Field, Kind, Obj, OneOf, array, choice, out

# --- responses ---------------------------------------------------------------------------------------

_TEXT = out({"type": "string"})
_DATE_OUT = out({"type": "string", "format": "date"})


def _fields(names: str, kind_: Kind[Any] = _TEXT) -> list[Field]:
    return [Field(name, kind_) for name in names.split()]


ADDRESS: Obj[Any] = Obj(_fields("line postal_code city"), name="Address")
PATIENT: Obj[Any] = Obj(
    [
        Field("nir", out({"type": "string", "pattern": NORMALISED_NIR.anchored}), description="Normalised."),
        *_fields("last_name first_name"),
        Field("birth_date", _DATE_OUT),
        Field("sex", SEX),
        Field("email", _TEXT, nullable=True),
        Field("phone", _TEXT, nullable=True),
        Field("address", ADDRESS, nullable=True),
        Field("birth_last_name", _TEXT, required=False, nullable=True),
        Field("birth_first_names", _TEXT, required=False, nullable=True),
        Field("birth_place", _TEXT, required=False, nullable=True),
        Field("identity_document", IDENTITY_DOCUMENT, required=False, nullable=True),
        Field(
            "identity_status",
            choice(IdentityStatus),
            required=False,
            description="Derived by the server from what was checked (README \"The patient's "
            'identity"): provisional, recovered (INSi), validated (document), qualified (both).',
        ),
    ],
    name="Patient",
)
TEST: Obj[Any] = Obj(
    [
        Field("kind", KIND),
        Field("device_id", _TEXT),
        Field(
            "device_name",
            _TEXT,
            nullable=True,
            description="The device's manufacturer and name on the EU common list.",
            source=lambda test: device_name(test.device_id),
        ),
        Field("sampled_at", out({"type": "string", "format": "date-time"})),
        Field("result", RESULT, nullable=True),
    ],
    name="Test",
)
_SUMMARY_FIELDS = [
    Field("id", ID),
    Field("finess", _TEXT),
    Field("status", STATUS),
    Field("test", TEST),
    Field(
        "day",
        _DATE_OUT,
        description="The sampling's day in the pharmacy's time zone: the day it is listed and counted under.",
    ),
    Field("created_at", TIMESTAMP),
    Field("updated_at", TIMESTAMP),
    Field("created_by", _TEXT),
]
SUMMARY: Obj[Any] = Obj(
    _SUMMARY_FIELDS, name="Summary", description="A list item: no NIR, e-mail, phone or address."
)
RECORD: Obj[Any] = Obj([*_SUMMARY_FIELDS, Field("patient", PATIENT, nullable=True)], name="Record")
RECORD_PAGE: Obj[Any] = Obj(
    [Field("items", array(SUMMARY)), Field("next_cursor", _TEXT, nullable=True)], name="RecordPage"
)
REJECTION: Obj[Any] = Obj(
    [
        Field("ack_code", out({"type": "string", "enum": ["AE", "AR"]})),
        Field("code", _TEXT, description="HL7 table 0357 error code (empty when SI-DEP gave none)."),
        Field("category", _TEXT, description="That code's category, from our own table."),
    ],
    name="Rejection",
)
DELIVERY_EVENT: Obj[Any] = Obj([Field("at", TIMESTAMP), *_fields("event detail")], name="DeliveryEvent")


def _delivery(name: str, kind_: Kind[Any], *, nullable: bool = False) -> Field:
    """A field of the record's delivery state (rendered from a record: `record.delivery.<name>`)."""
    return Field(name, kind_, nullable=nullable, source=lambda record: getattr(record.delivery, name))


DELIVERY: Obj[Any] = Obj(
    [
        Field("id", ID),
        Field("status", STATUS),
        Field(
            "state",
            choice(Journey),
            source=journey,
            description="The step of the record's way to SI-DEP; each refines one `status`: pending "
            "(pending); queued (ready); sending, retrying, dead_letter (sent); acknowledged; rejected; "
            "withdrawn, cancelled (cancelled). A withdrawal on its way is queued, sending, retrying or "
            "dead_letter under `cancelled`.",
        ),
        _delivery("pending_message", choice(MessageKind), nullable=True),
        _delivery("attempts", COUNT),
        _delivery("last_error", _TEXT, nullable=True),
        Field(
            "error_category",
            choice(ErrorCategory),
            nullable=True,
            description="Why the last attempt got no acknowledgement, while retrying or a dead letter.",
            source=failure_category,
        ),
        Field(
            "rejection",
            REJECTION,
            nullable=True,
            description="Why SI-DEP rejected it (codes only, never SI-DEP's text): correct the record "
            "and it goes out again.",
            source=rejection,
        ),
        _delivery("acknowledged_at", TIMESTAMP, nullable=True),
        _delivery("acknowledged_version", COUNT),
        _delivery("next_attempt_at", TIMESTAMP, nullable=True),
        # when a message first left for SI-DEP: from then on the test is withdrawn, never cancelled
        _delivery("first_sent_at", TIMESTAMP, nullable=True),
        _delivery("history", array(DELIVERY_EVENT)),
    ],
    name="Delivery",
)
AUDIT_EVENT: Obj[Any] = Obj(
    [
        Field("time", TIMESTAMP),
        *_fields("actor role"),
        Field("finess", _TEXT, nullable=True),
        Field("action", _TEXT),
        Field("record_ids", array(_TEXT)),
        *_fields("outcome request_id"),
    ],
    name="AuditEvent",
    description="One event of the pharmacy's audit journal (identifiers only).",
    closed=False,
)
AUDIT_PUBLIC_KEY: Obj[Any] = Obj(
    [
        Field("key_id", _TEXT),
        Field("algorithm", out({"type": "string", "enum": ["ECDSA_SHA_256"]})),
        Field(
            "public_key_pem",
            _TEXT,
            description="SubjectPublicKeyInfo (ECC_NIST_P256), PEM: verify_audit --public-key.",
        ),
        Field(
            "fingerprint",
            _TEXT,
            description="SHA-256 (hex) of the DER public key: compare with the stack output.",
        ),
    ],
    name="AuditPublicKey",
    description="The key that signs the audit journal's checkpoints: anyone holding it verifies them "
    "offline.",
)
AUDIT_PAGE: Obj[Any] = Obj(
    [Field("items", array(AUDIT_EVENT)), Field("next_cursor", _TEXT, nullable=True)], name="AuditPage"
)
PHARMACY: Obj[Any] = Obj([*_fields("finess name"), Field("time_zone", TIME_ZONE)], name="Pharmacy")
MEMBER: OneOf[Any] = OneOf(
    [
        Obj([*_fields("username email"), ROLE_FIELD, Field("finess", _TEXT)]),
        Obj([*_fields("username national_id"), ROLE_FIELD, Field("finess", _TEXT)]),
    ],
    name="Member",
)
HEALTH: Obj[Any] = Obj([Field("status", out({"type": "string", "const": "ok"}))], name="Health")
FIELD_ERROR: Obj[Any] = Obj(_fields("field message"), name="FieldError")
PROBLEM: Obj[Any] = Obj(
    [
        *_fields("type title"),
        Field("status", out({"type": "integer", "minimum": 400, "maximum": 599})),
        Field("detail", _TEXT),
        Field("errors", array(FIELD_ERROR), required=False),
        Field(
            "withdrawal",
            _TEXT,
            required=False,
            description="On a 409 cancelling an already sent test: the route withdrawing it (POST).",
        ),
        Field(
            "error",
            _TEXT,
            required=False,
            description="On the Pro Santé Connect login routes: the CIBA / OAuth error code "
            "(authorization_pending, slow_down, expired_token, access_denied, "
            "invalid_grant).",
        ),
    ],
    name="Problem",
    description="RFC 9457 problem details; never echoes a submitted personal value.",
    closed=False,
)
BATCH_OUTCOME: Obj[Any] = Obj(
    [
        Field("index", COUNT, description="The item's position in the batch, from 0."),
        Field(
            "key", _TEXT, nullable=True, description="The item's idempotency key; null if it is not a UUID."
        ),
        Field("outcome", choice(ItemOutcome)),
        Field("id", ID, nullable=True, description="The record's id (created)."),
        Field("location", _TEXT, nullable=True, description="The record's path (created)."),
        Field(
            "errors",
            array(FIELD_ERROR),
            description="Invalid: each field in error as a JSON pointer into the batch "
            "(`/items/3/patient/nir`); conflict: the key's. Never a submitted value.",
        ),
    ],
    name="BatchOutcome",
)
BATCH_RESULT: Obj[Any] = Obj(
    [Field("items", array(BATCH_OUTCOME), description="One outcome per item, in the batch's order.")],
    name="BatchResult",
)
ACCESS_EVENT: Obj[Any] = Obj(
    [
        Field("time", _TEXT, description="RFC 3339, UTC, as the journal holds it."),
        Field(
            "role",
            _TEXT,
            description="The accessor's role; no username (no pharmacy policy names its staff).",
        ),
        Field("pharmacy", _TEXT, description="The FINESS of the pharmacy whose member accessed it."),
        Field("action", _TEXT, description="What was done: create, read, list, patient_export, erase..."),
        Field("outcome", _TEXT),
    ],
    name="AccessEvent",
)
PATIENT_RECORD: Obj[Any] = RECORD.extended(
    [
        Field("delivery", DELIVERY),
        Field(
            "retention",
            Obj(
                [
                    Field("sent_to_sidep", out({"type": "boolean"})),
                    Field("personal_data_erased_on", _DATE_OUT),
                ]
            ),
        ),
        Field(
            "access_history",
            array(ACCESS_EVENT),
            description="Who accessed this record, oldest first: the pharmacy's own journal only.",
        ),
    ],
    name="PatientRecord",
    description="A record with everything held about it: patient, delivery, retention, accesses.",
)
PATIENT_EXPORT: Obj[Any] = Obj(
    [
        Field("finess", _TEXT),
        Field("generated_at", TIMESTAMP),
        Field("records", array(PATIENT_RECORD)),
        Field(
            "access_history_complete",
            out({"type": "boolean"}),
            description="False when the journal read for the histories stopped at its bound.",
        ),
        Field("retention_policy", Obj(_fields("after_acknowledgement_days hard_cap_days", COUNT))),
    ],
    name="PatientExport",
)
PATIENT_ERASURE: Obj[Any] = Obj(
    [
        Field("erased", array(ID)),
        Field(
            "already_sent",
            array(Obj([Field("id", ID), Field("status", _TEXT), Field("erased_here_on", _DATE_OUT)])),
        ),
        Field("detail", _TEXT),
    ],
    name="PatientErasure",
)
_DAY_FIELDS = [
    *_fields("tests positive negative invalid pending", COUNT),
    Field(
        "positivity",
        out({"type": "number", "minimum": 0, "maximum": 1}),
        nullable=True,
        description="positive / (positive + negative); null when there is neither.",
    ),
]
DAY_STATS: Obj[Any] = Obj([Field("date", _DATE_OUT), *_DAY_FIELDS], name="DayStats")
REJECTION_COUNT: Obj[Any] = Obj([*_fields("code category"), Field("records", COUNT)], name="RejectionCount")
STATS: Obj[Any] = Obj(
    [
        Field("finess", _TEXT),
        Field("from", _DATE_OUT),
        Field("to", _DATE_OUT),
        Field("days", array(DAY_STATS)),
        Field("totals", Obj(_DAY_FIELDS)),
        Field("delivery_states", Obj(_fields(" ".join(state.value for state in DeliveryState), COUNT))),
        Field(
            "rejections",
            array(REJECTION_COUNT),
            description="Records SI-DEP rejected, by error code: list them with status=rejected, "
            "correct them, and they go out again.",
        ),
    ],
    name="Stats",
)
# A pharmacy's declared hours, as they were set (payloads/requests.py OPENING_HOURS); null: none.
_OPENING_HOURS_FIELD = Field(
    "opening_hours",
    OPENING_HOURS,
    nullable=True,
    description="When its staff work (null: none declared, no outside-hours alert of the journal's review).",
)
PHARMACY_SETTINGS_STATE: Obj[Any] = Obj(
    [Field("finess", _TEXT), Field("psc_required", BOOLEAN), _OPENING_HOURS_FIELD],
    name="PharmacySettingsState",
)
PHARMACY_OVERVIEW: Obj[Any] = Obj(
    [
        *_fields("finess name"),
        Field("time_zone", TIME_ZONE, description="The pharmacy's days (its stats, its lists) are in it."),
        Field("onboarded_at", TIMESTAMP),
        Field(
            "psc_required",
            BOOLEAN,
            description="Its members, admins included, log in with Pro Santé Connect.",
        ),
        _OPENING_HOURS_FIELD,
    ],
    name="PharmacyOverview",
)
TEAM_MEMBER: Obj[Any] = Obj(
    [
        Field("username", _TEXT, description="What the revocation and the re-sent invitation name."),
        ROLE_FIELD,
        Field(
            "login",
            out({"type": "string", "enum": ["cognito", "psc"]}),
            description="cognito: invited by e-mail, logs in with a password and TOTP; psc: invited by "
            "national identifier, logs in with Pro Santé Connect.",
        ),
        Field("email", _TEXT, nullable=True, description="As the admin entered it (cognito)."),
        Field("national_id", _TEXT, nullable=True, description="As the admin entered it (psc)."),
        Field("invited_at", TIMESTAMP),
        Field("invited_by", _TEXT, description="The username of who invited them."),
        Field(
            "invitation",
            out({"type": "string", "enum": ["pending", "accepted"]}),
            nullable=True,
            description="cognito: pending until the member sets their password (re-send it while "
            "pending); psc: null, Pro Santé Connect and the national directory vouch at each login. "
            "No last-seen time is kept.",
        ),
    ],
    name="TeamMember",
)
TEAM: Obj[Any] = Obj([Field("finess", _TEXT), Field("members", array(TEAM_MEMBER))], name="Team")
PHARMACY_SUMMARY: Obj[Any] = Obj(
    [
        *_fields("finess name"),
        Field("time_zone", TIME_ZONE),
        Field("onboarded_at", TIMESTAMP),
        Field("members", COUNT),
    ],
    name="PharmacySummary",
)
PHARMACY_LIST: Obj[Any] = Obj(
    [Field("pharmacies", array(PHARMACY_SUMMARY))],
    name="PharmacyList",
    description="The onboarded pharmacies: no member's name, no health data.",
)
PSC_LOGIN: Obj[Any] = Obj(
    [
        Field("login_id", _TEXT, description="Opaque handle for polling; keep it secret."),
        Field("binding_message", _TEXT, description="Show it: the e-CPS app shows the same code to approve."),
        Field("expires_in", POSITIVE),
        Field("interval", POSITIVE, description="Poll at most this often (seconds)."),
    ],
    name="PscLogin",
)
PSC_TOKEN: Obj[Any] = Obj(
    [
        Field("access_token", _TEXT, description="Send as `Authorization: Bearer …`."),
        Field("token_type", out({"type": "string", "const": "Bearer"}), source=lambda _: "Bearer"),
        Field("expires_in", POSITIVE),
    ],
    name="PscToken",
)
JWKS: Obj[Any] = Obj(
    [Field("keys", array({"type": "object"}))],
    name="Jwks",
    description="The public keys of our session issuer (RS256; private keys stay in KMS).",
)

ALERT: Obj[Any] = Obj(
    [
        Field(
            "alert_id",
            _TEXT,
            source=lambda stored: stored.alert.alert_id,
            description="What the acknowledgement names; the journal's `alert_raised` event gives it "
            "as its reason.",
        ),
        Field(
            "detector",
            out({"type": "string", "enum": list(DETECTORS)}),
            source=lambda stored: stored.alert.detector,
            description="What the journal's automatic review found (docs/journal.md says what each asks).",
        ),
        Field(
            "subject",
            _TEXT,
            nullable=True,
            source=lambda stored: stored.alert.subject or None,
            description="The username or source address it is about; null when none.",
        ),
        Field("window_start", TIMESTAMP, source=lambda stored: stored.alert.window_start),
        Field("window_end", TIMESTAMP, source=lambda stored: stored.alert.window_end),
        Field(
            "count",
            COUNT,
            source=lambda stored: stored.alert.count,
            description="What the detector counted in the window (distinct records, searches, refusals...).",
        ),
        Field("threshold", COUNT, source=lambda stored: stored.alert.threshold),
        Field(
            "record_ids",
            array(_TEXT),
            source=lambda stored: list(stored.alert.record_ids),
            description="The records concerned (ids only), at most 1000.",
        ),
        Field("raised_at", TIMESTAMP),
        Field("acknowledged_at", TIMESTAMP, nullable=True, description="The first acknowledgement's."),
        Field("acknowledged_by", _TEXT, nullable=True, description="The username of who acknowledged it."),
    ],
    name="Alert",
)
ALERT_LIST: Obj[Any] = Obj(
    [Field("finess", _TEXT), Field("alerts", array(ALERT))],
    name="AlertList",
    description="The pharmacy's alerts, newest first: identifiers only, no health data.",
)
