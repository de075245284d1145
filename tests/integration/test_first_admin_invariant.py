"""The directory's tenant invariant raises (not an `assert`, which `python -O` strips): a pharmacy's
first member through the platform is a pharmacy_admin of a named pharmacy, or nothing is written."""

from __future__ import annotations

import pytest

from chalicelib.adapters.clock import SystemClock
from chalicelib.adapters.dynamodb.directory import DynamoDbMemberships
from chalicelib.domain.errors import Forbidden
from chalicelib.domain.model import Role
from chalicelib.ports import Membership


@pytest.mark.parametrize(
    "membership",
    [
        Membership(username="p", role=Role.PHARMACIST, finess="750000010"),
        Membership(username="a", role=Role.PHARMACY_ADMIN, finess=None),
    ],
)
def test_a_first_admin_is_a_pharmacy_admin_of_a_pharmacy(membership: Membership) -> None:
    with pytest.raises(Forbidden):
        DynamoDbMemberships(SystemClock()).add_first_admin_change(membership, created_by="platform")
