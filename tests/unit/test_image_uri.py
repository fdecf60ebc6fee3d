"""The endpoint and the notebook must pull the image the SageMaker SDK itself would pick, in every
region the SDK publishes it in, without synthesis importing the SDK or calling AWS."""

from __future__ import annotations

import re
from typing import Any

import aws_cdk as cdk
import botocore.session
import pytest

from inf2_llm.components.container_image import runtime_image
from inf2_llm.runtimes import TGI, VLLM, ServingRuntime

# (runtime, the SDK's name for its image family, what the project appends to the SDK's tag)
IMAGES = {
    # The guide pins DLC release v1.2; the SDK names the image without its patch release.
    "tgi": (TGI, "huggingface-llm-neuronx", "-v1.2"),
    "vllm": (VLLM, "huggingface-vllm-neuronx", ""),
}


def _url_suffix(region: str) -> str:
    """What CloudFormation's AWS::URLSuffix is in the region's partition, per botocore's data."""
    partitions = botocore.session.get_session().get_component("data_loader").load_data("partitions")["partitions"]
    for partition in partitions:
        if region in partition["regions"]:
            return partition["outputs"]["dnsSuffix"]
    for partition in partitions:
        if re.match(partition["regionRegex"], region):
            return partition["outputs"]["dnsSuffix"]
    raise LookupError(region)


def _evaluate(value: Any, *, region: str, mappings: dict[str, Any]) -> str:
    """Evaluate the intrinsic functions an image URI can contain, as CloudFormation would."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return {"AWS::Region": region, "AWS::URLSuffix": _url_suffix(region)}[value["Ref"]]
    if "Fn::FindInMap" in value:
        name, first, second = (_evaluate(part, region=region, mappings=mappings) for part in value["Fn::FindInMap"])
        return mappings[name][first][second]
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_evaluate(part, region=region, mappings=mappings) for part in parts)
    raise ValueError(value)


@pytest.fixture(scope="module", params=IMAGES)
def image(request: pytest.FixtureRequest) -> tuple[ServingRuntime, str, dict[str, str]]:
    """(runtime, patch suffix, the SDK's own URI per region) for one image family."""
    from sagemaker.core import image_uris

    runtime, framework, patch = IMAGES[request.param]
    return (
        runtime,
        patch,
        {
            region: image_uris.retrieve(
                framework, region=region, version=runtime.release.version, inference_tool="neuronx"
            )
            for region in runtime.release.regions
        },
    )


def test_the_sdk_lists_the_regions_the_cdk_fact_lacks() -> None:
    """The reason the SDK's table is used: these regions have no CDK fact for the DLC account."""
    regions = TGI.release.regions
    assert len(regions) >= 45
    for region in ("af-south-1", "ap-northeast-3", "ca-west-1", "il-central-1", "us-gov-west-1", "us-iso-east-1"):
        assert region in regions


def test_region_agnostic_stack_resolves_to_the_sdk_uri_everywhere(image) -> None:
    """A stack without a region must deploy the right image in whichever region it lands in."""
    runtime, patch, sdk_uris = image
    stack = cdk.Stack(cdk.App(), "Agnostic")
    uri = stack.resolve(runtime_image(stack, runtime=runtime, tag=runtime.default_image_tag).uri)
    template = cdk.assertions.Template.from_stack(stack).to_json()
    assert "Fn::FindInMap" in str(uri), "an agnostic stack must look the account up at deploy time"
    assert set(template["Mappings"][runtime.registry_mapping_id]) == set(sdk_uris)
    for region, sdk_uri in sdk_uris.items():
        assert _evaluate(uri, region=region, mappings=template["Mappings"]) == sdk_uri + patch, region


def test_fixed_region_stacks_get_the_sdk_uri(image) -> None:
    """A stack with an environment gets literal values, and they must equal the SDK's too."""
    runtime, patch, sdk_uris = image
    app = cdk.App()
    for region, sdk_uri in sdk_uris.items():
        stack = cdk.Stack(app, f"In-{region}", env=cdk.Environment(account="123456789012", region=region))
        uri = stack.resolve(runtime_image(stack, runtime=runtime, tag=runtime.default_image_tag).uri)
        assert "Fn::FindInMap" not in str(uri), region
        assert _evaluate(uri, region=region, mappings={}) == sdk_uri + patch, region


def test_default_tags_follow_the_dlc_release_notes() -> None:
    """The guide's image is DLC release v1.2 of TGI 0.0.28; the vLLM image's tag has the form the
    DLC release notes give (aws/deep-learning-containers, available_images.md:
    <vLLM>-optimum<optimum-neuron>-neuronx-py310-sdk<Neuron SDK>-ubuntu22.04) for the newest
    0.4.x release the SDK lists, and Seoul is not among its regions."""
    assert TGI.default_image_tag == "2.1.2-optimum0.0.28-neuronx-py310-ubuntu22.04-v1.2"
    assert VLLM.release.version == "0.4.4"
    assert VLLM.default_image_tag == "0.11.0-optimum0.4.4-neuronx-py310-sdk2.26.1-ubuntu22.04"
    assert "ap-northeast-2" in TGI.release.regions and "ap-northeast-2" not in VLLM.release.regions
