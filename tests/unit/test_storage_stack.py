"""The storage stack holds what must outlive every compute change: its settings and its identity."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match

from tests.unit.conftest import HUB, PROD

DEV_STORAGE = "Inf2Llm-dev-Storage"
PROD_STORAGE = "Inf2Llm-prod-Storage"


def test_key_rotates(synth) -> None:
    """A customer key that never rotates fails most security baselines."""
    synth(HUB).template(DEV_STORAGE).has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_artifact_bucket_is_encrypted_private_versioned_and_logged(synth) -> None:
    """Compiled models are the project's most expensive artifact: encrypted with the project key,
    never public, recoverable after an overwrite, and every access recorded."""
    template = synth(HUB).template(DEV_STORAGE)
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {
                        "BucketKeyEnabled": True,
                        "ServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": {"Fn::GetAtt": [Match.string_like_regexp("^ArtifactsKey"), "Arn"]},
                        },
                    }
                ]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "VersioningConfiguration": {"Status": "Enabled"},
            "LoggingConfiguration": {
                "DestinationBucketName": {"Ref": Match.string_like_regexp("^ArtifactsAccessLogs")},
                "LogFilePrefix": "bucket/",
            },
            "LifecycleConfiguration": {
                "Rules": Match.array_with([Match.object_like({"NoncurrentVersionExpiration": {"NoncurrentDays": 7}})])
            },
        },
    )


def test_both_buckets_refuse_plain_http(synth) -> None:
    """SSL enforcement is a bucket-policy deny on aws:SecureTransport=false, on every bucket."""
    template = synth(HUB).template(DEV_STORAGE)
    policies = template.find_resources(
        "AWS::S3::BucketPolicy",
        {
            "Properties": {
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                    )
                }
            }
        },
    )
    assert len(policies) == 2


def test_models_policies_reach_only_the_models_prefix(synth) -> None:
    """Compute roles get the bucket through these two policies; neither may reach beyond models/."""
    template = synth(HUB).template(DEV_STORAGE)
    policies = template.find_resources("AWS::IAM::ManagedPolicy")
    assert len(policies) == 2
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        listing, objects, key = statements
        assert listing["Action"] == "s3:ListBucket"
        assert listing["Condition"] == {"StringLike": {"s3:prefix": ["models/*"]}}
        assert objects["Resource"]["Fn::Join"][1][-1] == "/models/*"
        actions = [objects["Action"]] if isinstance(objects["Action"], str) else objects["Action"]
        assert actions and not any("*" in action for action in actions)
        assert key["Resource"]["Fn::GetAtt"][1] == "Arn"


def test_dev_is_destroyable(synth) -> None:
    """`cdk destroy` of dev must leave nothing billable: buckets are emptied and deleted, key scheduled."""
    template = synth(HUB).template(DEV_STORAGE)
    for resource_type in ("AWS::S3::Bucket", "AWS::KMS::Key"):
        for resource in template.find_resources(resource_type).values():
            assert resource["DeletionPolicy"] == "Delete"
    template.resource_count_is("Custom::S3AutoDeleteObjects", 2)
    assert not synth(HUB).stack_artifact(DEV_STORAGE).termination_protection


def test_prod_retains_data_and_is_protected(synth) -> None:
    """Production models and keys survive `cdk destroy` and an accidental stack deletion."""
    template = synth(PROD).template(PROD_STORAGE)
    for resource_type in ("AWS::S3::Bucket", "AWS::KMS::Key"):
        for resource in template.find_resources(resource_type).values():
            assert resource["DeletionPolicy"] == "Retain"
            assert resource["UpdateReplacePolicy"] == "Retain"
    template.resource_count_is("Custom::S3AutoDeleteObjects", 0)
    assert synth(PROD).stack_artifact(PROD_STORAGE).termination_protection


def test_outputs_name_the_bucket_key_and_alarm_topic(synth) -> None:
    """Users and the workbench scripts find the bucket and key, and operators the topic to
    subscribe to, through these outputs."""
    template = synth(HUB).template(DEV_STORAGE)
    template.has_output("ArtifactBucketName", {"Value": {"Ref": Match.string_like_regexp("^ArtifactsBucket")}})
    template.has_output("ArtifactKeyArn", {"Value": {"Fn::GetAtt": [Match.string_like_regexp("^ArtifactsKey"), "Arn"]}})
    template.has_output("AlarmTopicArn", {"Value": {"Ref": Match.string_like_regexp("^AlarmsTopic")}})


def test_alarm_topic_is_encrypted_tls_only_and_open_to_this_accounts_alarms(synth) -> None:
    """Alarm messages name the endpoint and its failures: encrypted with the project key and sent
    over TLS only. CloudWatch publishes as a service, so the topic and the key each let it in,
    but only for alarms of this account and region."""
    template = synth(HUB).template(DEV_STORAGE)
    template.has_resource_properties(
        "AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [Match.string_like_regexp("^ArtifactsKey"), "Arn"]}}
    )
    template.resource_count_is("AWS::SNS::Subscription", 0)
    (policy,) = template.find_resources("AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    (deny,) = [statement for statement in statements if statement["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    (key,) = template.find_resources("AWS::KMS::Key").values()
    allowed = [statement for statement in statements if statement["Effect"] == "Allow"]
    allowed += [
        statement
        for statement in key["Properties"]["KeyPolicy"]["Statement"]
        if statement["Principal"].get("Service") == "cloudwatch.amazonaws.com"
    ]
    assert len(allowed) == 2
    for statement in allowed:
        assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
        assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
        assert statement["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Join"][1][-1] == ":alarm:*"


def test_alarm_email_is_subscribed(synth) -> None:
    """With alarm_email the alarms reach a person, not just a topic nobody reads."""
    template = synth({"alarm_email": "ops@example.com"}).template(DEV_STORAGE)
    template.has_resource_properties(
        "AWS::SNS::Subscription",
        {"Protocol": "email", "Endpoint": "ops@example.com", "TopicArn": {"Ref": Match.string_like_regexp("^Alarms")}},
    )


def test_stateful_logical_ids_are_pinned(synth) -> None:
    """A changed logical id makes CloudFormation replace the resource: a new, empty bucket and a new
    key that cannot decrypt the old objects. Renaming a construct must fail here first."""
    for overrides, stack in ((HUB, DEV_STORAGE), (PROD, PROD_STORAGE)):
        resources = synth(overrides).template(stack).to_json()["Resources"]
        stateful = {
            logical_id
            for logical_id, resource in resources.items()
            if resource["Type"] in ("AWS::S3::Bucket", "AWS::KMS::Key")
        }
        assert stateful == {"ArtifactsKeyA4B22E2B", "ArtifactsAccessLogs4D97777C", "ArtifactsBucket88671897"}


def test_access_logs_are_versioned(synth) -> None:
    """An access log deleted or overwritten survives as a noncurrent version until it expires too."""
    template = synth(HUB).template(DEV_STORAGE)
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
            "VersioningConfiguration": {"Status": "Enabled"},
            "LifecycleConfiguration": {
                "Rules": [
                    Match.object_like({"ExpirationInDays": 30, "NoncurrentVersionExpiration": {"NoncurrentDays": 30}})
                ]
            },
        },
    )


def test_the_key_lets_cloudwatch_logs_encrypt_this_accounts_log_groups(synth) -> None:
    """The compute stacks' log groups are encrypted with the project key; CloudWatch Logs can only
    use it for log groups of this account and region."""
    (key,) = synth(HUB).template(DEV_STORAGE).find_resources("AWS::KMS::Key").values()
    (statement,) = [
        statement
        for statement in key["Properties"]["KeyPolicy"]["Statement"]
        if "logs." in json.dumps(statement.get("Principal", {}))
    ]
    assert statement["Principal"]["Service"]["Fn::Join"][1][:3] == ["logs.", {"Ref": "AWS::Region"}, "."]
    condition = statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    assert condition["Fn::Join"][1][-1] == ":log-group:*"
