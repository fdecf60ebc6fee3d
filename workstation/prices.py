"""What an endpoint costs per hour, for the benchmark's cost per million output tokens: the instances it
runs on and their on-demand price.

The price table holds what could be read, with where and when it was read: the on-demand price of
real-time inference on the Amazon SageMaker AI pricing page (PRICING_PAGE) in us-east-1 in 2025, the
guide's year, the figure the README's cost table gives. Prices differ by region and change; a run in
another region warns, and --price-per-hour replaces the table's figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

PRICING_PAGE = "https://aws.amazon.com/sagemaker/pricing/"
PRICES_REGION = "us-east-1"
PRICES_READ = "2025"
# USD per instance-hour, on-demand real-time inference.
HOURLY_PRICES_USD = {"ml.inf2.xlarge": 0.99}
# The guide's endpoint instance, and the project's default endpoint_instance_type.
DEFAULT_INSTANCE_TYPE = "ml.inf2.xlarge"
SECONDS_PER_HOUR = 3600
TOKENS_PER_MILLION = 1_000_000


@dataclass(frozen=True)
class Instances:
    """Instances of one type behind the endpoint."""

    instance_type: str
    count: int


@dataclass(frozen=True)
class HourlyPrice:
    """What the endpoint's instances cost per hour, where the figure comes from, and why it may be wrong."""

    instances: tuple[Instances, ...]
    usd_per_hour: float | None  # None: no price known for an instance type
    source: str
    warnings: tuple[str, ...]

    def summary(self) -> dict[str, Any]:
        return {
            "instances": [{"instance_type": group.instance_type, "count": group.count} for group in self.instances],
            "usd_per_hour": self.usd_per_hour,
            "source": self.source,
            "warnings": list(self.warnings),
        }


def hourly_price(instances: Sequence[Instances], *, region: str | None, price_per_hour: float | None) -> HourlyPrice:
    """The hourly price of these instances: `price_per_hour` per instance when given (the caller's own
    figure), otherwise the table's, with a warning when the region or an instance type is not the table's."""
    groups = tuple(instances)
    if price_per_hour is not None:
        return HourlyPrice(groups, price_per_hour * sum(group.count for group in groups), "--price-per-hour", ())
    source = f"{PRICING_PAGE}, on-demand, read for {PRICES_REGION} in {PRICES_READ}"
    warnings = []
    unpriced = sorted({group.instance_type for group in groups} - set(HOURLY_PRICES_USD))
    if unpriced:
        warnings.append(f"no price for {', '.join(unpriced)} in the table: pass --price-per-hour")
    if region != PRICES_REGION:
        warnings.append(
            f"prices were read for {PRICES_REGION}; the endpoint is in {region}, where they differ:"
            " pass that region's price with --price-per-hour"
        )
    total = sum(HOURLY_PRICES_USD.get(group.instance_type, 0.0) * group.count for group in groups)
    return HourlyPrice(groups, None if unpriced else total, source, tuple(warnings))


def cost_per_million_tokens(usd_per_hour: float | None, tokens_per_s: float) -> float | None:
    """What a million tokens cost at this rate: the hour's price over the hour's tokens."""
    if usd_per_hour is None or tokens_per_s <= 0:
        return None
    return usd_per_hour / (tokens_per_s * SECONDS_PER_HOUR) * TOKENS_PER_MILLION


def endpoint_instances(sagemaker: Any, endpoint_name: str) -> tuple[Instances, ...]:
    """The instances serving the endpoint now: each variant's current count (DescribeEndpoint) and its
    instance type (DescribeEndpointConfig). A serverless variant has neither and is left out.
    Raises ClientError or BotoCoreError when either cannot be read."""
    endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    configuration = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    types = {
        variant["VariantName"]: variant["InstanceType"]
        for variant in configuration["ProductionVariants"]
        if "InstanceType" in variant
    }
    return tuple(
        Instances(types[variant["VariantName"]], variant.get("CurrentInstanceCount", 0))
        for variant in endpoint.get("ProductionVariants", [])
        if variant["VariantName"] in types
    )
