"""What the benchmark sends and what it prices with: the shipped prompts, their payloads, the price table."""

from __future__ import annotations

import argparse
import re

import boto3
import pytest

from workstation import prices
from workstation.lambda_checks import inference_apis
from workstation.prompts import PROMPTS, prompts_option

# The guide serves with MAX_INPUT_LENGTH=2048 tokens; both models' tokenizers give a common Hangul
# syllable a token or less, so a prompt of fewer characters fits.
GUIDE_MAX_INPUT_LENGTH = 2048
HANGUL = re.compile(r"[\uac00-\ud7a3]")
# Where each API's request carries the prompt: TGI's inputs, OpenAI's prompt, the user's message.
PROMPT_PLACES = {
    "generate": lambda payload: payload["inputs"],
    "completions": lambda payload: payload["prompt"],
    "messages": lambda payload: payload["messages"][-1]["content"],
}


def test_the_guide_prompt_is_the_smoke_tests_and_stays_its_default() -> None:
    """The benchmark's default must measure the request the guide timed, and the smoke test, which
    passes no prompt, must keep sending the guide's question."""
    assert PROMPTS["guide"].text == inference_apis.PROMPT
    for api in inference_apis.INFERENCE_APIS.values():
        assert api.build_payload(8, ()) == api.build_payload(8, (), prompt=inference_apis.PROMPT)


@pytest.mark.parametrize("api", inference_apis.INFERENCE_APIS.values(), ids=lambda api: api.name)
def test_every_api_carries_the_prompt_given(api: inference_apis.InferenceApi) -> None:
    """A prompt that did not reach the request would time the guide's question under another name."""
    text = PROMPTS["very-long"].text

    payload = api.build_payload(8, ("<|im_end|>",), prompt=text)

    assert PROMPT_PLACES[api.name](payload) == text
    assert payload["stream"] is True


def test_the_prompts_are_korean_grow_in_length_and_fit_the_guides_input_limit() -> None:
    """The set exists to show how the prompt's length moves the time to first token: each longer than
    the one before, all Korean like the guide's, none over what the guide's server accepts."""
    lengths = [len(prompt.text) for prompt in PROMPTS.values()]

    assert list(PROMPTS) == ["guide", "short", "medium", "long", "very-long"]
    assert lengths == sorted(lengths) and len(set(lengths)) == len(lengths)
    assert 1200 <= lengths[-1] < GUIDE_MAX_INPUT_LENGTH  # roughly 1,000 tokens
    assert all(len(HANGUL.findall(prompt.text)) > len(prompt.text) / 2 for prompt in PROMPTS.values())


def test_prompts_are_chosen_by_name_or_all() -> None:
    """--prompts takes names in the order to send them, or all of them; a mistyped or repeated name is refused."""
    assert [prompt.name for prompt in prompts_option("very-long,guide")] == ["very-long", "guide"]
    assert prompts_option("all") == tuple(PROMPTS.values())
    for wrong in ("guide,nonsense", "short,short", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            prompts_option(wrong)


def test_the_table_prices_the_guides_instance_where_it_was_read() -> None:
    """The cost per token is only as good as its price: the table's figure, with its source, and no
    warning where it was read."""
    price = prices.hourly_price([prices.Instances("ml.inf2.xlarge", 2)], region="us-east-1", price_per_hour=None)

    assert price.usd_per_hour == pytest.approx(1.98)
    assert price.warnings == ()
    assert "https://aws.amazon.com/sagemaker/pricing/" in price.source and "us-east-1 in 2025" in price.source


def test_an_unknown_type_or_another_region_is_warned_about() -> None:
    """A price the table does not have must not be guessed, and one read for another region must not
    pass unremarked."""
    unknown = prices.hourly_price([prices.Instances("ml.inf2.8xlarge", 1)], region="us-east-1", price_per_hour=None)
    elsewhere = prices.hourly_price([prices.Instances("ml.inf2.xlarge", 1)], region="eu-west-1", price_per_hour=None)
    given = prices.hourly_price([prices.Instances("ml.inf2.8xlarge", 3)], region="eu-west-1", price_per_hour=2.0)

    assert unknown.usd_per_hour is None and "no price for ml.inf2.8xlarge" in unknown.warnings[0]
    assert elsewhere.usd_per_hour == 0.99 and "the endpoint is in eu-west-1" in elsewhere.warnings[0]
    assert (given.usd_per_hour, given.warnings) == (6.0, ())


def test_cost_per_million_tokens_is_the_hours_price_over_the_hours_tokens() -> None:
    """$0.99 an hour at 55 tokens/s is 198,000 tokens for $0.99: $5 per million."""
    assert prices.cost_per_million_tokens(0.99, 55.0) == pytest.approx(5.0)
    assert prices.cost_per_million_tokens(None, 55.0) is None
    assert prices.cost_per_million_tokens(0.99, 0.0) is None


def test_the_endpoints_instances_are_read_from_its_variants() -> None:
    """With --stack-name the price follows the endpoint as deployed: each variant's instance type
    from its configuration and its current count from the endpoint."""
    sagemaker = boto3.client("sagemaker")
    sagemaker.create_model(
        ModelName="model", ExecutionRoleArn="arn:aws:iam::123456789012:role/model", PrimaryContainer={"Image": "image"}
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "model",
                "InstanceType": "ml.inf1.xlarge",
                "InitialInstanceCount": 3,
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName="endpoint", EndpointConfigName="config")

    assert prices.endpoint_instances(sagemaker, "endpoint") == (prices.Instances("ml.inf1.xlarge", 3),)
