"""The CloudFormation template merged into `chalice package --merge-template`.

Generated, never hand-written, so that it cannot drift from the sources of truth:
- tables: the PynamoDB models (`ALL_MODELS`, `TABLE_SETTINGS`) and their TTL attributes;
- table names and the functions' environment: `chalicelib.config.Settings` / `load_settings()`;
- the user pool and app client: `chalicelib.adapters.cognito_pool` (as the local stack);
- the region allow-list: `chalicelib.config.HDS_REGIONS`.

The stateful and security resources live here; Chalice contributes the functions, the REST
API and the schedule. Each function gets its own role, mapped by name in `FUNCTION_ROLES`:
packaging fails on a function without one rather than deploying it with a broad role.

One module per resource family, in the order the template lists them (merge.py assembles them):
- base: the app's name, the region allow-list, CloudFormation helpers;
- tables: the DynamoDB tables; access: who may do what (tables, keys, record attributes), as data;
- keys: the KMS keys and their policies; export: SI-DEP's client certificate, the queues;
- journal: the audit journal's WORM bucket; roles: each function's role and policy;
- identity: Cognito, Pro Santé Connect and their secrets; functions: the functions' roles,
  settings, event sources and log groups; api: the REST API and its WAF;
- alarms, dashboard: monitoring; operators: the operator role and the stack's outputs;
- merge: the parameters, the region rule, the outputs and `merge_template`.
This module re-exports the names the rest of the project imports (`from infra.template import
merge_template`); a family's own helpers are imported from its module.
"""

from chalicelib.api.gateway import GATEWAY_RESPONSES
from infra.template.access import (
    APPEND,
    DYNAMODB_WRITES,
    EXPORT_WRITABLE_ATTRIBUTES,
    KEY_USE,
    NEVER_DELETE,
    PERSONAL_ATTRIBUTES,
    PURGE_WRITABLE_ATTRIBUTES,
    READ,
    ROLE_TABLES,
    SCAN,
    STORAGE_KEY_VIA_DYNAMODB,
    STREAM_READ,
    WRITE,
    WRITER_ROLES,
    export_record_attribute_check,
)
from infra.template.alarms import (
    AUTH_FAILURE_BURST,
    AUTH_FAILURE_METRIC,
    EXPORT_LAG_METRIC,
    EXPORT_LAG_THRESHOLD_SECONDS,
    JOURNAL_APPEND_FAILURE_METRIC,
    JOURNAL_APPEND_FAILURE_PATTERN,
    RETENTION_ALARM_METRIC,
    SIDEP_FAILING_METRIC,
    UNACKNOWLEDGED_METRIC,
    UNAUTHENTICATED_REFUSALS_BURST,
    UNAUTHENTICATED_REFUSALS_METRIC,
)
from infra.template.api import ACCESS_LOG_FORMAT
from infra.template.base import (
    APP_NAME,
    DEFAULT_STAGE,
    LOG_RETENTION_DAYS,
    PLACEHOLDER_ROLE,
    RegionNotAllowedError,
    check_region,
)
from infra.template.dashboard import (
    DASHBOARD_EXPORT_METRICS,
    dashboard_body,
)
from infra.template.export import (
    EXPORT_SHARD_VISIBILITY_SECONDS,
    SIDEP_FUNCTIONS,
    SIDEP_TLS_KEY,
    SIDEP_TLS_SECRET,
)
from infra.template.functions import (
    ASYNC_ROLES,
    EXPORT_TRIGGER_FILTER,
    FUNCTION_ROLES,
    MAPPED_FUNCTIONS,
    STREAM_DELIVERY,
    STREAM_FUNCTIONS,
    STREAM_UNTIL_DONE,
    Function,
    function_environment,
)
from infra.template.identity import (
    COGNITO_ADMIN_ACTIONS,
    DIRECTORY_URL,
    POOL_API_TO_CFN,
    PSC_ENVIRONMENTS,
    SECRET_READERS,
    client_name,
    pool_name,
    pool_properties,
)
from infra.template.journal import (
    WORM_FORBIDDEN,
    WORM_RETENTION_DAYS,
    WORM_WRITE,
)
from infra.template.merge import (
    merge_template,
    region_rule,
)
from infra.template.operators import (
    OPERATOR_INVOKES,
    OPERATOR_OUTPUTS,
    OPERATOR_READABLE_ATTRIBUTES,
    OPERATOR_RECORD_READS,
    operator_policy_document,
)
from infra.template.roles import (
    member_session_attributes,
    role_policy_document,
)
from infra.template.tables import (
    table_logical_id,
    table_name,
    table_schema,
    ttl_attribute,
)

__all__ = [
    "ACCESS_LOG_FORMAT",
    "APPEND",
    "APP_NAME",
    "ASYNC_ROLES",
    "AUTH_FAILURE_BURST",
    "AUTH_FAILURE_METRIC",
    "COGNITO_ADMIN_ACTIONS",
    "DASHBOARD_EXPORT_METRICS",
    "DEFAULT_STAGE",
    "DIRECTORY_URL",
    "DYNAMODB_WRITES",
    "EXPORT_LAG_METRIC",
    "EXPORT_LAG_THRESHOLD_SECONDS",
    "EXPORT_SHARD_VISIBILITY_SECONDS",
    "EXPORT_TRIGGER_FILTER",
    "EXPORT_WRITABLE_ATTRIBUTES",
    "FUNCTION_ROLES",
    "GATEWAY_RESPONSES",
    "JOURNAL_APPEND_FAILURE_METRIC",
    "JOURNAL_APPEND_FAILURE_PATTERN",
    "KEY_USE",
    "LOG_RETENTION_DAYS",
    "MAPPED_FUNCTIONS",
    "NEVER_DELETE",
    "OPERATOR_INVOKES",
    "OPERATOR_OUTPUTS",
    "OPERATOR_READABLE_ATTRIBUTES",
    "OPERATOR_RECORD_READS",
    "PERSONAL_ATTRIBUTES",
    "PLACEHOLDER_ROLE",
    "POOL_API_TO_CFN",
    "PSC_ENVIRONMENTS",
    "PURGE_WRITABLE_ATTRIBUTES",
    "READ",
    "RETENTION_ALARM_METRIC",
    "ROLE_TABLES",
    "SCAN",
    "SECRET_READERS",
    "SIDEP_FAILING_METRIC",
    "SIDEP_FUNCTIONS",
    "SIDEP_TLS_KEY",
    "SIDEP_TLS_SECRET",
    "STORAGE_KEY_VIA_DYNAMODB",
    "STREAM_DELIVERY",
    "STREAM_FUNCTIONS",
    "STREAM_READ",
    "STREAM_UNTIL_DONE",
    "UNACKNOWLEDGED_METRIC",
    "UNAUTHENTICATED_REFUSALS_BURST",
    "UNAUTHENTICATED_REFUSALS_METRIC",
    "WORM_FORBIDDEN",
    "WORM_RETENTION_DAYS",
    "WORM_WRITE",
    "WRITE",
    "WRITER_ROLES",
    "Function",
    "RegionNotAllowedError",
    "check_region",
    "client_name",
    "dashboard_body",
    "export_record_attribute_check",
    "function_environment",
    "member_session_attributes",
    "merge_template",
    "operator_policy_document",
    "pool_name",
    "pool_properties",
    "region_rule",
    "role_policy_document",
    "table_logical_id",
    "table_name",
    "table_schema",
    "ttl_attribute",
]
