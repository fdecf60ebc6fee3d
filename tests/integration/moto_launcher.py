"""Start moto's server, patched just enough to stand in for CloudFormation and SageMaker.

    python -m tests.integration.moto_launcher --port N [--max-seconds S]

The server binds to `localhost` only (moto reads `127.0.0.1` in a template URL as a bucket
name) and exits by itself after `--max-seconds`, so a test process that is killed outright
cannot leave it running. The rehearsal test starts it in its own process group and stops it
by that group.

Every patch below closes a gap between moto 5.2.5 and the real services, never a fault of the
app, and each is as narrow as the gap: the real service accepts the input, moto does not, or
moto drops a property the real service keeps. Nothing here relaxes a check the app could fail
for real.

For `scale_to_zero=true`, moto_inference_components.py patches: CreateEndpointConfig (a variant
without ModelName, which then needs ExecutionRoleArn; ExecutionRoleArn and EnableNetworkIsolation
kept), AWS::SageMaker::InferenceComponent in CloudFormation (created with CreateInferenceComponent's
checks, deleted with its stack) and DescribeInferenceComponent, Register- and DescribeScalableTargets'
`sagemaker:inference-component:DesiredCopyCount` dimension, and
AWS::ApplicationAutoScaling::ScalableTarget in CloudFormation (RegisterScalableTarget with its
scheduled actions, DeregisterScalableTarget on deletion).
"""

from __future__ import annotations

import argparse
import os
import threading
from typing import Any

# Inferentia2 sizes SageMaker offers for notebooks and real-time endpoints. moto 5.2.5 lists
# ml.inf2.* among model-package inference types but not among notebook instance types or
# production-variant instance types, where the real API accepts them.
INF2_INSTANCE_TYPES = frozenset({"ml.inf2.xlarge", "ml.inf2.8xlarge", "ml.inf2.24xlarge", "ml.inf2.48xlarge"})
HOST = "localhost"


def _accept_inf2_instance_types() -> None:
    """Let the two instance-type validators accept ml.inf2.* and keep rejecting what they did."""
    from moto.sagemaker import models as sagemaker

    for model in (sagemaker.FakeSagemakerNotebookInstance, sagemaker.FakeEndpointConfig):
        original = model.validate_instance_type

        def validate_instance_type(self: Any, instance_type: str, _original: Any = original) -> None:
            if instance_type not in INF2_INSTANCE_TYPES:
                _original(self, instance_type)

        model.validate_instance_type = validate_instance_type  # type: ignore[method-assign]


def _register_outputs_of_change_sets() -> None:
    """ExecuteChangeSet in moto applies the resources but never evaluates the template's Outputs:
    a stack created through a change set (as `cdk deploy` does) has no outputs and no exports,
    and a later stack's Fn::ImportValue fails. Its stack is also built without the account's
    exports to import from. CreateStack and UpdateStack do both; this does the same after a
    change set is executed."""
    from moto.cloudformation.models import CloudFormationBackend

    original = CloudFormationBackend.execute_change_set

    def execute_change_set(self: CloudFormationBackend, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = self.change_sets.get(change_set_name) or next(
            (cs for cs in self.change_sets.values() if cs.change_set_name == change_set_name), None
        )
        stack = self.stacks.get(change_set.stack_id) if change_set else None
        if stack is None:
            original(self, change_set_name, stack_name)
            return
        stack.cross_stack_resources = self.exports
        stack.resource_map.cross_stack_resources = self.exports
        previous_exports = [export.name for export in stack.exports]
        original(self, change_set_name, stack_name)
        for name in previous_exports:
            self.exports.pop(name, None)
        stack._parse_template()
        stack.description = stack.template_dict.get("Description")
        stack.output_map = stack._create_output_map()
        self._validate_export_uniqueness(stack)
        for export in stack.exports:
            self.exports[export.name] = export

    CloudFormationBackend.execute_change_set = execute_change_set  # type: ignore[method-assign]

    # moto resolves Outputs, and the resources they reference, lazily: DescribeStacks on a deleted
    # stack (which the CLI polls during `cdk destroy`) would re-create every resource an output
    # refers to. A deleted stack has neither outputs nor resources.
    from moto.cloudformation.models import Stack
    from moto.cloudformation.parsing import OutputMap

    original_delete = Stack.delete

    def delete(self: Stack) -> None:
        original_delete(self)
        self.output_map = OutputMap(self.resource_map, {}, self.stack_id)
        self.resource_map._resource_json_map = {}

    Stack.delete = delete  # type: ignore[method-assign]


# AWS::SageMaker::NotebookInstance properties and the backend arguments moto already supports.
_NOTEBOOK_PROPERTIES = {
    "SubnetId": "subnet_id",
    "SecurityGroupIds": "security_group_ids",
    "KmsKeyId": "kms_key_id",
    "Tags": "tags",
    "LifecycleConfigName": "lifecycle_config_name",
    "DirectInternetAccess": "direct_internet_access",
    "VolumeSizeInGB": "volume_size_in_gb",
    "AcceleratorTypes": "accelerator_types",
    "DefaultCodeRepository": "default_code_repository",
    "AdditionalCodeRepositories": "additional_code_repositories",
    "RootAccess": "root_access",
}


def _keep_notebook_properties() -> None:
    """moto's AWS::SageMaker::NotebookInstance passes only InstanceType and RoleArn to the
    backend: the volume size, KMS key, lifecycle configuration and network settings of the
    template are dropped, although CreateNotebookInstance in moto accepts them. The platform
    identifier and metadata-service settings moto does not model at all; they are kept on the
    instance and returned by DescribeNotebookInstance as the real API does."""
    from moto.sagemaker import models as sagemaker

    notebook_model = sagemaker.FakeSagemakerNotebookInstance

    def create_from_cloudformation_json(
        cls: type, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        properties = cloudformation_json["Properties"]
        notebook = sagemaker.sagemaker_backends[account_id][region_name].create_notebook_instance(
            notebook_instance_name=resource_name,
            instance_type=properties["InstanceType"],
            role_arn=properties["RoleArn"],
            **{argument: properties[name] for name, argument in _NOTEBOOK_PROPERTIES.items() if name in properties},
        )
        notebook.platform_identifier = properties.get("PlatformIdentifier")
        notebook.instance_metadata_service_configuration = properties.get("InstanceMetadataServiceConfiguration")
        return notebook

    original_to_dict = notebook_model.to_dict

    def to_dict(self: Any) -> dict[str, Any]:
        described = original_to_dict(self)
        if getattr(self, "platform_identifier", None):
            described["PlatformIdentifier"] = self.platform_identifier
        if getattr(self, "instance_metadata_service_configuration", None):
            described["InstanceMetadataServiceConfiguration"] = self.instance_metadata_service_configuration
        return described

    notebook_model.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)  # type: ignore[method-assign,assignment]
    notebook_model.to_dict = to_dict  # type: ignore[method-assign]


def _keep_model_network_isolation() -> None:
    """moto's AWS::SageMaker::Model drops EnableNetworkIsolation (DescribeModel always says
    false); the real service keeps it, and the app sets it for models served from S3."""
    from moto.sagemaker import models as sagemaker

    original = sagemaker.Model.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_from_cloudformation_json(
        cls: type, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        model = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        isolation = cloudformation_json["Properties"].get("EnableNetworkIsolation", False)
        model.enable_network_isolation = isolation in (True, "true", "True")
        return model

    sagemaker.Model.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)  # type: ignore[method-assign,assignment]


def _keep_bucket_versioning_and_public_access_block() -> None:
    """moto's AWS::S3::Bucket applies BucketEncryption and Tags only; VersioningConfiguration
    and PublicAccessBlockConfiguration are dropped, although its S3 API supports both."""
    from moto.s3.models import FakeBucket, s3_backends
    from moto.utilities.utils import get_partition

    original = FakeBucket.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_from_cloudformation_json(
        cls: type, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        bucket = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        properties = cloudformation_json.get("Properties", {})
        backend = s3_backends[account_id][get_partition(region_name)]
        versioning = properties.get("VersioningConfiguration")
        if versioning:
            backend.put_bucket_versioning(bucket.name, versioning["Status"])
        public_access_block = properties.get("PublicAccessBlockConfiguration")
        if public_access_block:
            backend.put_public_access_block(bucket.name, public_access_block)
        return bucket

    FakeBucket.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)  # type: ignore[method-assign,assignment]


def _accept_key_policy_objects() -> None:
    """AWS::KMS::Key takes KeyPolicy as a JSON object. moto stores the object as it is, and every
    later KMS call that checks the key policy (DescribeKey, GetKeyRotationStatus) then fails
    with a server error; the API's CreateKey stores a JSON string, so the object is serialized."""
    import json

    from moto.kms.models import Key

    original = Key.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_from_cloudformation_json(
        cls: type, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        properties = cloudformation_json["Properties"]
        if not isinstance(properties.get("KeyPolicy"), str):
            cloudformation_json = {
                **cloudformation_json,
                "Properties": {**properties, "KeyPolicy": json.dumps(properties["KeyPolicy"])},
            }
        return original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)

    Key.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)  # type: ignore[method-assign,assignment]


def _attach_role_managed_policies() -> None:
    """moto's AWS::IAM::Role ignores ManagedPolicyArns, so a role would show none of the managed
    policies the template attaches (here the artifact bucket's models/ reader and writer).
    CloudFormation attaches them on create and detaches them before deleting the role.
    AWS managed policies are loaded so that attaching one (CDK's own custom-resource provider
    uses AWSLambdaBasicExecutionRole) succeeds as it does in a real account.

    moto's AWS::IAM::ManagedPolicy is never deleted with its stack. CloudFormation deletes it,
    and IAM refuses (DeleteConflict) while it is still attached to a role, which is kept here:
    deleting the storage stack before the stacks whose roles use its policies fails."""
    from moto.core.config import default_user_config
    from moto.iam.exceptions import DeleteConflictException
    from moto.iam.models import ManagedPolicy, Role, iam_backends
    from moto.utilities.utils import get_partition

    default_user_config["iam"] = {**default_user_config.get("iam", {}), "load_aws_managed_policies": True}
    original_create = Role.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    original_delete = Role.delete_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_from_cloudformation_json(
        cls: type, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        role = original_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        backend = iam_backends[account_id][get_partition(region_name)]
        for policy_arn in cloudformation_json["Properties"].get("ManagedPolicyArns", []):
            backend.attach_role_policy(policy_arn, role.name)
        return role

    def delete_from_cloudformation_json(
        cls: type, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        backend = iam_backends[account_id][get_partition(region_name)]
        for role in list(backend.roles.values()):
            if role.name == resource_name:
                for policy_arn in list(role.managed_policies):
                    backend.detach_role_policy(policy_arn, role.name)
        original_delete(cls, resource_name, cloudformation_json, account_id, region_name)

    Role.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)  # type: ignore[method-assign,assignment]
    Role.delete_from_cloudformation_json = classmethod(delete_from_cloudformation_json)  # type: ignore[method-assign,assignment]

    def delete_policy_from_cloudformation_json(
        cls: type, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        backend = iam_backends[account_id][get_partition(region_name)]
        policy = backend.get_policy(resource_name)
        if policy.attachment_count:
            raise DeleteConflictException("Cannot delete a policy attached to entities.")
        backend.delete_policy(policy.arn)

    ManagedPolicy.delete_from_cloudformation_json = classmethod(delete_policy_from_cloudformation_json)  # type: ignore[method-assign,assignment]


def _give_wait_condition_handles_a_url() -> None:
    """moto ignores AWS::CloudFormation::WaitConditionHandle, so its Ref resolves to nothing and
    the notebook's on-start hook would be rendered with WAIT_HANDLE_URL='None'. CloudFormation
    resolves it to a presigned S3 URL the artifact job signals; this gives the handle such a URL
    (it accepts no signal). AWS::CloudFormation::WaitCondition stays ignored: moto cannot wait,
    so in the rehearsal the Serving stack does not wait for a compile, as it does in AWS."""
    from urllib.parse import quote

    from moto.cloudformation import parsing
    from moto.core.common_models import CloudFormationModel

    class WaitConditionHandle(CloudFormationModel):
        # moto files every model class under the service named by its module's second part.
        __module__ = "moto.cloudformation.wait_condition_handle"

        def __init__(self, url: str) -> None:
            self.url = url

        @property
        def physical_resource_id(self) -> str:
            return self.url

        @staticmethod
        def cloudformation_name_type() -> str:
            return ""

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::CloudFormation::WaitConditionHandle"

        @classmethod
        def create_from_cloudformation_json(  # type: ignore[override]
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
        ) -> "WaitConditionHandle":
            handle = quote(f"{kwargs['StackId']}/{kwargs['LogicalId']}", safe="")
            return cls(
                f"https://cloudformation-waitcondition-{region_name}.s3.{region_name}.amazonaws.com/{handle}"
                "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=moto"
            )

    parsing.NULL_MODELS.remove(WaitConditionHandle.cloudformation_type())
    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()


# CreateStateMachine: "name [...] Length Constraints: Minimum length of 1. Maximum length of 80."
# (https://docs.aws.amazon.com/step-functions/latest/apireference/API_CreateStateMachine.html)
STATE_MACHINE_NAME_LIMIT = 80


def _fit_generated_state_machine_names() -> None:
    """CloudFormation names a state machine whose template gives no StateMachineName within Step
    Functions' 80 characters. moto names it "<stack>-<logical id>-<suffix>" in full and then refuses
    its own name when the two are long, as for the waiter state machine of a CDK provider in the
    Workbench stack; the name is shortened here, keeping moto's random suffix."""
    from moto.cloudformation import parsing

    original = parsing.generate_resource_name

    def generate_resource_name(resource_type: str, stack_name: str, logical_id: str) -> str:
        name = original(resource_type, stack_name, logical_id)
        if resource_type != "AWS::StepFunctions::StateMachine" or len(name) <= STATE_MACHINE_NAME_LIMIT:
            return name
        prefix, _, suffix = name.rpartition("-")
        return f"{prefix[: STATE_MACHINE_NAME_LIMIT - len(suffix) - 1].rstrip('-')}-{suffix}"

    parsing.generate_resource_name = generate_resource_name


def _record_custom_resources_without_running_them() -> None:
    """moto answers a custom resource by running its provider function in Docker, in a thread
    whose failure it ignores: without Docker (as here and in CI) the attempt only logs errors,
    and with a Docker daemon it would pull Lambda images from the internet in the background.
    The custom resources of this app are CDK's own (emptying the dev buckets on destroy) and the
    notebook restart, whose Create restarts nothing anyway, and the rehearsal deploys with the
    smoke-test trigger off. They are recorded as created, after
    checking, as CloudFormation does, that the ServiceToken names an existing function."""
    from moto.awslambda.utils import get_backend as lambda_backend
    from moto.cloudformation import cloudformation_backends
    from moto.cloudformation.custom_model import CustomModel
    from moto.moto_api._internal import mock_random

    def create_from_cloudformation_json(
        cls: type, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> CustomModel:
        lambda_backend(account_id, region_name).get_function(cloudformation_json["Properties"]["ServiceToken"])
        custom_resource = CustomModel(region_name, str(mock_random.uuid4()), kwargs["LogicalId"], resource_name)
        cloudformation_backends[account_id][region_name].get_stack(kwargs["StackId"]).add_custom_resource(
            custom_resource
        )
        custom_resource.set_data({})
        return custom_resource

    CustomModel.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)  # type: ignore[method-assign,assignment]


def patch_moto() -> None:
    # Imported here, in the server's process only: defining its models registers them with moto.
    from tests.integration.moto_inference_components import patch_inference_components

    _accept_inf2_instance_types()
    _register_outputs_of_change_sets()
    _keep_notebook_properties()
    _keep_model_network_isolation()
    _keep_bucket_versioning_and_public_access_block()
    _accept_key_policy_objects()
    _attach_role_managed_policies()
    _give_wait_condition_handles_a_url()
    _fit_generated_state_machine_names()
    _record_custom_resources_without_running_them()
    patch_inference_components()


def _exit_after(seconds: float) -> None:
    timer = threading.Timer(seconds, os._exit, args=(3,))
    timer.daemon = True
    timer.start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="TCP port on localhost")
    parser.add_argument("--max-seconds", type=float, default=600, help="exit after this long (default 600)")
    args = parser.parse_args(argv)
    patch_moto()
    _exit_after(args.max_seconds)

    from moto.server import main as moto_server

    moto_server(["--host", HOST, "--port", str(args.port)])


if __name__ == "__main__":
    main()
