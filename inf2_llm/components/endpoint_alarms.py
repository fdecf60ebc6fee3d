"""Alarms on a model endpoint's errors and latency, each telling a topic when it fires and clears."""

from __future__ import annotations

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_sns as sns

from inf2_llm.components.model_endpoint import ModelEndpoint

# https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html: InvocationModelErrors is
# "the number of model invocation requests that did not result in 2XX HTTP response. This includes
# 4XX/5XX status codes, low-level socket errors, malformed HTTP responses, and request timeouts".
# Invocation4XXErrors counts the 4xx answers only. Both count a caller's bad request that the
# container refuses, but a container that crashed, broke the connection or ran past the 60 s
# limit shows in InvocationModelErrors alone: that is the model failing.
ERROR_ALARMS = (
    ("ServerErrorsAlarm", "Invocation5XXErrors", "The endpoint answered with 5XX errors"),
    (
        "ModelErrorsAlarm",
        "InvocationModelErrors",
        "The model container failed requests: an error status, a broken connection or a timeout",
    ),
)


def add_endpoint_alarms(
    endpoint: ModelEndpoint, *, topic: sns.ITopic, latency_alarm_seconds: int
) -> list[cloudwatch.Alarm]:
    """Alarms on any 5XX answer, any failed model invocation, and an average latency above
    `latency_alarm_seconds` for 15 minutes.

    They are created in the endpoint's scope: an alarm's logical ID derives from its construct
    path, and a deployed stack's alarms keep theirs."""
    alarms = [
        endpoint.metric(metric_name, statistic="Sum").create_alarm(
            endpoint,
            alarm_id,
            alarm_description=description,
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        for alarm_id, metric_name, description in ERROR_ALARMS
    ]
    alarms.append(
        endpoint.metric("ModelLatency", statistic="Average").create_alarm(
            endpoint,
            "LatencyAlarm",
            alarm_description=f"Average model latency above {latency_alarm_seconds} s",
            # ModelLatency is reported in microseconds.
            threshold=latency_alarm_seconds * 1_000_000,
            evaluation_periods=3,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
    )
    # OK too: whoever was paged learns that the endpoint recovered.
    action = cloudwatch_actions.SnsAction(topic)
    for alarm in alarms:
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
    return alarms
