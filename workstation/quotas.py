"""Service Quotas: the SageMaker instance quotas a configuration needs, and quotas found by name.

Quotas are looked up by their names, which AWS documents in SageMaker's quota table
(https://docs.aws.amazon.com/general/latest/gr/sagemaker.html#limits_sagemaker) and which
SageMaker's own error repeats ("The account-level service limit 'ml.g4dn.xlarge for endpoint usage'
is 0 Instances"); their codes (L-...) are not in that table, so they are read from the Service Quotas
API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from inf2_llm.config import STAGES, AppConfig, EndpointSettings, config_for_stage

SAGEMAKER = "sagemaker"


@dataclass(frozen=True)
class QuotaNeed:
    service_code: str
    quota_name: str
    # Instances each stage deployed into the account and region runs at once.
    by_stage: tuple[tuple[str, int], ...]

    @property
    def total(self) -> int:
        return sum(count for _, count in self.by_stage)


def endpoint_instances(settings: EndpointSettings) -> int:
    """The most instances the endpoint runs: its initial count, or up to the autoscaling ceiling."""
    if settings.autoscaling:
        return max(settings.instance_count, settings.autoscaling_max_instances)
    return settings.instance_count


def sagemaker_needs(config: AppConfig) -> list[QuotaNeed]:
    """One notebook instance and the endpoint's instances per stage. The pipeline deploys every
    stage, each with its own notebook and endpoint, into the one configured account and region."""
    environments = [config_for_stage(config, stage) for stage in STAGES] if config.pipeline else [config]
    needs: dict[str, list[tuple[str, int]]] = {}
    for environment in environments:
        for name, count in (
            (f"{environment.notebook.instance_type} for notebook instance usage", 1),
            (f"{environment.endpoint.instance_type} for endpoint usage", endpoint_instances(environment.endpoint)),
        ):
            needs.setdefault(name, []).append((environment.stage, count))
    return [QuotaNeed(SAGEMAKER, name, tuple(by_stage)) for name, by_stage in needs.items()]


@dataclass(frozen=True)
class Quota:
    code: str
    value: float
    # False when Service Quotas lists no applied value and the AWS default is shown instead.
    applied: bool


class QuotaCatalog:
    """A service's quotas by name, each service listed once per run.

    ListServiceQuotas "Lists the applied quota values for the specified AWS service. For some
    quotas, only the default values are available. If the applied quota value is not available for
    a quota, the quota is not retrieved."; ListAWSDefaultServiceQuotas lists the defaults
    (https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_ListServiceQuotas.html).
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._listings: dict[tuple[str, str], dict[str, Any]] = {}

    def find(self, service_code: str, name: str) -> Quota | None:
        for operation, applied in (("list_service_quotas", True), ("list_aws_default_service_quotas", False)):
            quota = self._listing(operation, service_code).get(name)
            if quota is not None:
                return Quota(code=quota["QuotaCode"], value=quota["Value"], applied=applied)
        return None

    def _listing(self, operation: str, service_code: str) -> dict[str, Any]:
        if (operation, service_code) not in self._listings:
            pages = self._client.get_paginator(operation).paginate(ServiceCode=service_code)
            quotas = {quota["QuotaName"]: quota for page in pages for quota in page["Quotas"]}
            self._listings[operation, service_code] = quotas
        return self._listings[operation, service_code]


def increase_command(service_code: str, quota_code: str, desired: int, region: str) -> str:
    return (
        f"aws service-quotas request-service-quota-increase --service-code {service_code} "
        f"--quota-code {quota_code} --desired-value {desired} --region {region}"
    )
