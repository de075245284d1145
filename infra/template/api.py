"""The REST API's settings (throttling, access log, API Gateway's own error bodies) and its WAF."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.api.gateway import GATEWAY_HEADERS, GATEWAY_RESPONSES, gateway_problem
from infra.template.base import APP_NAME, arn, log_group, skip, sub, tags

ACCESS_LOG_FORMAT = (
    '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",'
    '"requestTime":"$context.requestTimeEpoch","httpMethod":"$context.httpMethod",'
    '"resourcePath":"$context.resourcePath","status":$context.status,'
    '"responseLength":"$context.responseLength","wafStatus":"$context.waf.status"}'
)


def _gateway_response(kind: str) -> dict[str, Any]:
    status, body = gateway_problem(kind)
    return {
        "Type": "AWS::ApiGateway::GatewayResponse",
        "Properties": {
            "RestApiId": {"Ref": "RestAPI"},
            "ResponseType": kind,
            "StatusCode": str(status),
            "ResponseTemplates": {"application/json": json.dumps(body)},
            "ResponseParameters": {
                f"gatewayresponse.header.{name}": f"'{value}'" for name, value in GATEWAY_HEADERS.items()
            },
        },
    }


def rest_api(stage_name: str, stage: str) -> dict[str, Any]:
    return {
        "RestAPI": {
            "DependsOn": ["ApiGatewayAccount"],
            "Properties": {
                "TracingEnabled": False,
                "MethodSettings": [
                    {
                        "ResourcePath": "/*",
                        "HttpMethod": "*",
                        "ThrottlingRateLimit": {"Ref": "ApiThrottleRate"},
                        "ThrottlingBurstLimit": {"Ref": "ApiThrottleBurst"},
                        "MetricsEnabled": True,
                        # ERROR only, never INFO: INFO would log request bodies (personal data).
                        "LoggingLevel": "ERROR",
                        "DataTraceEnabled": False,
                    }
                ],
                "AccessLogSetting": {
                    "DestinationArn": arn("ApiAccessLogGroup"),
                    "Format": ACCESS_LOG_FORMAT,
                },
                "Tags": {"app": APP_NAME, "stage": stage},
            },
            "Metadata": skip(
                (
                    "CKV_AWS_120",
                    "No response caching: responses carry health data that must not sit in a cache.",
                ),
                (
                    "CKV_AWS_73",
                    "X-Ray is deliberately off (no tracing SDK shipped, no trace store to govern).",
                ),
            ),
        },
        # API Gateway's own errors (unknown route, WAF block, throttle) as problem+json with a fixed
        # text: its default "Missing Authentication Token" body echoes the Authorization header.
        **{
            f"GatewayResponse{kind.title().replace('_', '')}": _gateway_response(kind)
            for kind, _, _ in GATEWAY_RESPONSES
        },
        "ApiAccessLogGroup": log_group(sub(f"/aws/apigateway/${{AWS::StackName}}-{stage_name}"), stage),
        # API Gateway writes logs through one account-wide role.
        "ApiGatewayCloudWatchRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "apigateway.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
                "ManagedPolicyArns": [
                    sub(
                        "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
                    )
                ],
            },
        },
        "ApiGatewayAccount": {
            "Type": "AWS::ApiGateway::Account",
            "Properties": {"CloudWatchRoleArn": arn("ApiGatewayCloudWatchRole")},
        },
    }


def waf(stage_name: str, stage: str) -> dict[str, Any]:
    def managed(name: str, priority: int) -> dict[str, Any]:
        return {
            "Name": name,
            "Priority": priority,
            "OverrideAction": {"None": {}},
            "Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": name}},
            "VisibilityConfig": {
                "SampledRequestsEnabled": False,
                "CloudWatchMetricsEnabled": True,
                "MetricName": name,
            },
        }

    return {
        "WebAcl": {
            "Type": "AWS::WAFv2::WebACL",
            "Properties": {
                "Name": sub("${AWS::StackName}-api"),
                "Scope": "REGIONAL",
                "DefaultAction": {"Allow": {}},
                "VisibilityConfig": {
                    "SampledRequestsEnabled": False,  # samples would keep request headers (tokens)
                    "CloudWatchMetricsEnabled": True,
                    "MetricName": "depistage-api",
                },
                "Rules": [
                    {
                        "Name": "RateLimitPerIp",
                        "Priority": 0,
                        "Action": {"Block": {}},
                        "Statement": {
                            "RateBasedStatement": {"Limit": {"Ref": "WafRateLimit"}, "AggregateKeyType": "IP"}
                        },
                        "VisibilityConfig": {
                            "SampledRequestsEnabled": False,
                            "CloudWatchMetricsEnabled": True,
                            "MetricName": "RateLimitPerIp",
                        },
                    },
                    managed("AWSManagedRulesKnownBadInputsRuleSet", 1),
                    managed("AWSManagedRulesCommonRuleSet", 2),
                ],
                "Tags": tags(stage),
            },
        },
        "WebAclAssociation": {
            "Type": "AWS::WAFv2::WebACLAssociation",
            "DependsOn": [f"RestAPI{stage_name}Stage"],  # the stage SAM generates for RestAPI
            "Properties": {
                "ResourceArn": sub(
                    f"arn:${{AWS::Partition}}:apigateway:${{AWS::Region}}::/restapis/${{RestAPI}}/stages/{stage_name}"
                ),
                "WebACLArn": arn("WebAcl"),
            },
        },
        # WAF requires its log group name to start with aws-waf-logs-.
        "WafLogGroup": log_group(sub("aws-waf-logs-${AWS::StackName}"), stage),
        "WafLogging": {
            "Type": "AWS::WAFv2::LoggingConfiguration",
            "Properties": {
                "ResourceArn": arn("WebAcl"),
                "LogDestinationConfigs": [arn("WafLogGroup")],
                # Bearer tokens and cookies never reach the logs, nor paths: a PSC login's poll
                # path carries its handle (services/psc_login.py), which collects the session.
                "RedactedFields": [
                    {"SingleHeader": {"Name": "authorization"}},
                    {"SingleHeader": {"Name": "cookie"}},
                    {"UriPath": {}},
                ],
            },
        },
    }
