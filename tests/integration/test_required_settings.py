"""The exporter of a deployed stage is not built without SI-DEP's endpoint and certificate secret
(chalicelib/config.py's SIDEP settings, checked by chalicelib/bootstrap/)."""

from __future__ import annotations

import pytest

from chalicelib.bootstrap import build_exporter
from chalicelib.config import DEPLOYED, SIDEP, ConfigurationError, declared, load_settings

DEPLOYED_ENV = {s.name: f"<{s.name}>" for _name, s in declared() if s.required == DEPLOYED}


def test_the_exporter_of_a_deployed_stage_needs_si_dep() -> None:
    settings = load_settings({**DEPLOYED_ENV, "STAGE": "prod", "SIDEP_URL": "https://sidep.example"})
    assert [s.name for _n, s in declared() if s.required == SIDEP] == ["SIDEP_URL", "SIDEP_TLS_SECRET_ID"]
    with pytest.raises(ConfigurationError) as caught:
        build_exporter(settings)  # refused before any collaborator is built
    assert str(caught.value) == "stage prod needs SIDEP_TLS_SECRET_ID: not set"
    assert "sidep.example" not in str(caught.value)
