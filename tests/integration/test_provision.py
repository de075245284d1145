import boto3

from chalicelib.adapters.dynamodb.models import ALL_MODELS


def test_provision_creates_every_table_with_ttl_and_the_pool(aws: dict[str, str]) -> None:
    ddb = boto3.client("dynamodb")
    names = set(ddb.list_tables()["TableNames"])
    assert {m.Meta.table_name for m in ALL_MODELS} <= names
    ttl = ddb.describe_time_to_live(TableName="depistage-records")["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "ENABLED" and ttl["AttributeName"] == "expires_at"
    pool = boto3.client("cognito-idp").describe_user_pool(UserPoolId=aws["USER_POOL_ID"])["UserPool"]
    assert pool["MfaConfiguration"] == "ON"
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] >= 12
