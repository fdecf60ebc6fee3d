"""The endpoint and the notebook must pull the image the SageMaker SDK itself would pick, in every
region the SDK publishes it in, without synthesis importing the SDK or calling AWS."""

from __future__ import annotations

import re
from typing import Any

import aws_cdk as cdk
import botocore.session
import pytest

from inf2_llm.components.container_image import runtime_image
from inf2_llm.runtimes import TGI

SDK_REGIONS = TGI.release.regions
# The guide pins DLC release v1.2; the SDK names the image without its patch release.
PATCH_SUFFIX = "-v1.2"


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


@pytest.fixture(scope="module")
def sdk_image_uris() -> dict[str, str]:
    from sagemaker.core import image_uris

    return {
        region: image_uris.retrieve(
            "huggingface-llm-neuronx", region=region, version=TGI.image_version, inference_tool="neuronx"
        )
        for region in SDK_REGIONS
    }


def test_the_sdk_lists_the_regions_the_cdk_fact_lacks() -> None:
    """The reason the SDK's table is used: these regions have no CDK fact for the DLC account."""
    assert len(SDK_REGIONS) >= 45
    for region in ("af-south-1", "ap-northeast-3", "ca-west-1", "il-central-1", "us-gov-west-1", "us-iso-east-1"):
        assert region in SDK_REGIONS


def test_region_agnostic_stack_resolves_to_the_sdk_uri_everywhere(sdk_image_uris: dict[str, str]) -> None:
    """A stack without a region must deploy the right image in whichever region it lands in."""
    stack = cdk.Stack(cdk.App(), "Agnostic")
    image = runtime_image(stack, runtime=TGI, tag=TGI.default_image_tag)
    template = cdk.assertions.Template.from_stack(stack).to_json()
    uri = stack.resolve(image.uri)
    assert "Fn::FindInMap" in str(uri), "an agnostic stack must look the account up at deploy time"
    for region in SDK_REGIONS:
        resolved = _evaluate(uri, region=region, mappings=template["Mappings"])
        assert resolved == sdk_image_uris[region] + PATCH_SUFFIX, region


def test_fixed_region_stacks_get_the_sdk_uri(sdk_image_uris: dict[str, str]) -> None:
    """A stack with an environment gets literal values, and they must equal the SDK's too."""
    app = cdk.App()
    for region in SDK_REGIONS:
        stack = cdk.Stack(app, f"In-{region}", env=cdk.Environment(account="123456789012", region=region))
        uri = stack.resolve(runtime_image(stack, runtime=TGI, tag=TGI.default_image_tag).uri)
        assert "Fn::FindInMap" not in str(uri), region
        assert _evaluate(uri, region=region, mappings={}) == sdk_image_uris[region] + PATCH_SUFFIX, region


def test_the_default_tag_is_the_sdks_with_the_guides_patch_release() -> None:
    """The tag is composed from the SDK's table as the SDK composes it, plus the guide's -v1.2."""
    assert TGI.default_image_tag == "2.1.2-optimum0.0.28-neuronx-py310-ubuntu22.04" + PATCH_SUFFIX
