"""Ports: the small interfaces the services need, and the values that cross them, one module per
area. Adapters implement them; tests fake them. The package imports the domain and nothing else of
chalicelib (tests/unit/test_layers.py). Every name is re-exported here: `from chalicelib.ports import X`.

- changes: a conditional write made in the journal's transaction (Change, ChangedMeanwhile)
- clock: the injected time
- records: records, their cipher and blind index, idempotency keys
- retention: erasure of personal data, the skeletons that stay
- pharmacies: pharmacies, memberships, the identity provider's users, the RPPS directory
- journal: the audit journal, request metadata, the published key
- sessions: access tokens, Pro Santé Connect logins, our session tokens
- insi: the INSi teleservice
- export: the SI-DEP export's queue and sender
- alerts: the journal review's alerts
- review: the journal review's state per pharmacy, the pharmacies' declared hours
"""

from __future__ import annotations

from chalicelib.ports.alerts import AlertInbox, Alerts
from chalicelib.ports.changes import Change, ChangedMeanwhile
from chalicelib.ports.clock import Clock
from chalicelib.ports.export import (
    BatchSender,
    ExportQueue,
    ExportQueues,
    ExportRunQueue,
    MessageQueue,
    Outbound,
    Queued,
    Receipt,
    SendFailed,
    SendReport,
)
from chalicelib.ports.insi import InsiTeleservice, InsiUnavailable, InsTraits, NoInsi
from chalicelib.ports.journal import AuditJournal, PublishedKey, RequestMeta
from chalicelib.ports.pharmacies import (
    CognitoInvitation,
    Membership,
    MembershipRepository,
    PharmacyEntry,
    PharmacyMember,
    PharmacyRepository,
    PharmacyZones,
    ProfessionalDirectory,
    UserDirectory,
    UserLookup,
)
from chalicelib.ports.records import (
    BlindIndex,
    IdempotencyEntry,
    IdempotencyStore,
    KeyTaken,
    Page,
    PersonalDataCipher,
    RecordRepository,
)
from chalicelib.ports.retention import RetentionStore
from chalicelib.ports.review import PharmacyHours, ReviewStates
from chalicelib.ports.sessions import (
    CibaRequest,
    PscLogin,
    PscLoginStore,
    PscProvider,
    PscStartLimits,
    SessionTokenIssuer,
    TokenVerifier,
    VerifiedToken,
)

__all__ = [
    "AlertInbox",
    "Alerts",
    "AuditJournal",
    "BatchSender",
    "BlindIndex",
    "Change",
    "ChangedMeanwhile",
    "CibaRequest",
    "Clock",
    "CognitoInvitation",
    "ExportQueue",
    "ExportQueues",
    "ExportRunQueue",
    "IdempotencyEntry",
    "IdempotencyStore",
    "InsTraits",
    "InsiTeleservice",
    "InsiUnavailable",
    "KeyTaken",
    "Membership",
    "MembershipRepository",
    "MessageQueue",
    "NoInsi",
    "Outbound",
    "Page",
    "PersonalDataCipher",
    "PharmacyEntry",
    "PharmacyHours",
    "PharmacyMember",
    "PharmacyRepository",
    "PharmacyZones",
    "ProfessionalDirectory",
    "PscLogin",
    "PscLoginStore",
    "PscProvider",
    "PscStartLimits",
    "PublishedKey",
    "Queued",
    "Receipt",
    "RecordRepository",
    "RequestMeta",
    "RetentionStore",
    "ReviewStates",
    "SendFailed",
    "SendReport",
    "SessionTokenIssuer",
    "TokenVerifier",
    "UserDirectory",
    "UserLookup",
    "VerifiedToken",
]
