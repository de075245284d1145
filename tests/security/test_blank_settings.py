"""A deployed stage does not load with a required setting that is only blanks: " " is no key id, and
" , " lists no app client (chalicelib/config.py's DEPLOYED settings). The error names the variable."""

from __future__ import annotations

import pytest

from chalicelib.config import DEPLOYED, ConfigurationError, declared, load_settings

DEPLOYED_ENV = {s.name: f"<{s.name}>" for _name, s in declared() if s.required == DEPLOYED}


@pytest.mark.parametrize(
    ("variable", "blank"),
    [("DATA_KEY_ID", "   "), ("RECORDS_TABLE", "\t"), ("APP_CLIENT_IDS", " , "), ("USER_POOL_ID", "\n")],
)
def test_a_deployed_stage_with_a_blank_required_setting_does_not_load(variable: str, blank: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings({**DEPLOYED_ENV, "STAGE": "prod", variable: blank})
    assert variable in str(caught.value)
