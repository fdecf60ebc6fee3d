"""Target tracking on a model endpoint's invocations per instance."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_applicationautoscaling as appscaling

from inf2_llm.components.endpoint_hosting import VARIANT_NAME
from inf2_llm.components.model_endpoint import ModelEndpoint

# An inf2 instance takes 15 minutes to come into service; scaling in fast would thrash.
SCALE_IN_COOLDOWN = Duration.minutes(30)
SCALE_OUT_COOLDOWN = Duration.minutes(5)


def add_endpoint_autoscaling(
    endpoint: ModelEndpoint, *, min_instances: int, max_instances: int, invocations_per_instance: int
) -> appscaling.ScalableTarget:
    """Scale the endpoint's variant between `min_instances` and `max_instances`, tracking
    `invocations_per_instance` as the target of SageMaker's InvocationsPerInstance.

    Created in the endpoint's scope: a resource's logical ID derives from its construct path, and
    a deployed stack's scaling target keeps its own."""
    target = appscaling.ScalableTarget(
        endpoint,
        "ScalableTarget",
        service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
        resource_id=f"endpoint/{endpoint.endpoint_name}/variant/{VARIANT_NAME}",
        scalable_dimension="sagemaker:variant:DesiredInstanceCount",
        min_capacity=min_instances,
        max_capacity=max_instances,
    )
    target.scale_to_track_metric(
        "InvocationsPerInstance",
        predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
        target_value=invocations_per_instance,
        scale_in_cooldown=SCALE_IN_COOLDOWN,
        scale_out_cooldown=SCALE_OUT_COOLDOWN,
    )
    return target
