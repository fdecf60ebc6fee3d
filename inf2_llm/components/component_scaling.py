"""An inference component that scales to zero copies when idle and back on the first request,
as "Scale an endpoint to zero instances" sets it up
(https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-zero-instances.html): the
component as a scalable target with minimum 0, a target-tracking policy on its invocations per
copy, and a step-scaling policy that adds a copy when a request finds none. SageMaker's managed
instance scaling then starts or releases the instances the copies need.
"""

from __future__ import annotations

from aws_cdk import Duration, TimeZone
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from constructs import Construct

from inf2_llm.components.endpoint_autoscaling import SCALE_IN_COOLDOWN, SCALE_OUT_COOLDOWN
from inf2_llm.components.model_endpoint import ModelEndpoint

COPY_COUNT = "sagemaker:inference-component:DesiredCopyCount"
# The page's step policy: "Cooldown": 60, "MetricAggregationType": "Maximum".
SCALE_FROM_ZERO_COOLDOWN = Duration.seconds(60)
WORKING_DAYS = "MON-FRI"


class ScaleToZero(Construct):
    """Scales `endpoint`'s inference component between zero copies and `max_copies`, tracking
    `invocations_per_copy` a minute; with `warm_hours` (start, end) one copy stays from the start
    hour to the end hour of every weekday in `warm_timezone`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint: ModelEndpoint,
        max_copies: int,
        invocations_per_copy: int,
        warm_hours: tuple[int, int] | None,
        warm_timezone: str,
    ) -> None:
        super().__init__(scope, construct_id)
        component_name = endpoint.inference_component_name
        if component_name is None:
            raise ValueError("only an endpoint that hosts an inference component can scale to zero")
        self.target = appscaling.ScalableTarget(
            self,
            "Target",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"inference-component/{component_name}",
            scalable_dimension=COPY_COUNT,
            min_capacity=0,
            max_capacity=max_copies,
        )
        # The name is known at synth; registering it needs the component to exist.
        self.target.node.add_dependency(endpoint.ready)
        # The metric the page scales to zero with. The high-resolution ConcurrentRequestsPerCopy would
        # see a burst sooner, but a new copy on Inferentia2 takes about as long as the guide's 14-17
        # minute deploys to come up, so seconds gained in noticing do not serve the burst.
        self.target.scale_to_track_metric(
            "InvocationsPerCopy",
            predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_INFERENCE_COMPONENT_INVOCATIONS_PER_COPY,
            target_value=invocations_per_copy,
            scale_in_cooldown=SCALE_IN_COOLDOWN,
            scale_out_cooldown=SCALE_OUT_COOLDOWN,
        )
        self.scale_from_zero_alarm = self._scale_out_from_zero(component_name)
        if warm_hours:
            self._keep_warm(*warm_hours, timezone=TimeZone.of(warm_timezone))

    def _scale_out_from_zero(self, component_name: str) -> cloudwatch.Alarm:
        """One copy more whenever a request found none. "SageMaker AI emits this metric when an
        endpoint receives an inference request, but the endpoint has no active instances to serve
        the request" (the page's NoCapacityInvocationFailures)."""
        no_capacity = cloudwatch.Metric(
            namespace="AWS/SageMaker",
            metric_name="NoCapacityInvocationFailures",
            dimensions_map={"InferenceComponentName": component_name},
            statistic="Sum",
            period=Duration.minutes(1),
        )
        # The page's alarm is "GreaterThanThreshold" 1, which needs two failed requests in a minute:
        # a person's single request to an idle dev endpoint would fail and start nothing. One
        # failed request is the signal here.
        alarm = no_capacity.create_alarm(
            self,
            "NoCapacityAlarm",
            alarm_description="A request found no copy of the model: add one (scale out from zero)",
            threshold=1,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        step = appscaling.StepScalingAction(
            self,
            "ScaleOutFromZero",
            scaling_target=self.target,
            adjustment_type=appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
            metric_aggregation_type=appscaling.MetricAggregationType.MAXIMUM,
            cooldown=SCALE_FROM_ZERO_COOLDOWN,
        )
        step.add_adjustment(adjustment=1, lower_bound=0)
        alarm.add_alarm_action(cloudwatch_actions.ApplicationScalingAction(step))
        return alarm

    def _keep_warm(self, start: int, end: int, *, timezone: TimeZone) -> None:
        """Raise the floor to one copy at `start` and lower it to zero at `end`. "At the scheduled
        time, if the current capacity is below the minimum capacity, Application Auto Scaling
        scales out to the minimum capacity"
        (https://docs.aws.amazon.com/autoscaling/application/APIReference/API_PutScheduledAction.html);
        from `end` on, the copy goes when target tracking finds it idle."""
        for action_id, hour, floor in (("WarmFrom", start, 1), ("ColdFrom", end, 0)):
            self.target.scale_on_schedule(
                action_id,
                schedule=appscaling.Schedule.cron(minute="0", hour=str(hour), week_day=WORKING_DAYS),
                min_capacity=floor,
                time_zone=timezone,
            )
