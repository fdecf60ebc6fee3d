"""Where the endpoint's model comes from: each source binds itself to the endpoint's role and says
how the container gets the model."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field

from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

# Where SageMaker places model data from S3; the container loads the model from there.
SAGEMAKER_MODEL_DIR = "/opt/ml/model"


@dataclass(frozen=True)
class BoundModelSource:
    """What a model source gives the endpoint's SageMaker model."""

    # The runtime's `model`: a Hub id, or the directory SageMaker copies the model data to.
    model: str
    revision: str | None
    data_source: sagemaker.CfnModel.ModelDataSourceProperty | None
    network_isolation: bool
    # checkov checks the model fails knowingly because of this source, each with its reason.
    checkov_skips: Mapping[str, str] = field(default_factory=dict)


class ModelSource(ABC):
    """A way for the endpoint to get its model. A new source subclasses this and implements `bind`."""

    @abstractmethod
    def bind(self, scope: Construct, role: iam.IRole) -> BoundModelSource:
        """Grant `role` (the endpoint's execution role) what loading the model takes, and say how
        the container gets it. `scope` is the endpoint, for any construct the source needs."""


@dataclass(frozen=True)
class HubModel(ModelSource):
    """A precompiled model the container downloads from the Hugging Face Hub when it starts."""

    model_id: str
    revision: str | None

    def bind(self, scope: Construct, role: iam.IRole) -> BoundModelSource:
        return BoundModelSource(
            model=self.model_id,
            revision=self.revision,
            data_source=None,
            network_isolation=False,
            checkov_skips={
                "CKV_AWS_370": "model_source=hub downloads the precompiled model from the Hugging Face Hub when the "
                "container starts, which isolation forbids; mirror and compile (prod's default) serve from S3 isolated."
            },
        )


@dataclass(frozen=True)
class ModelArtifact(ModelSource):
    """A model under an S3 prefix, uncompressed, with the weights it loads: nothing is fetched, so
    the container runs in network isolation. `reader` is the managed policy that reads the prefix."""

    bucket: s3.IBucket
    prefix: str
    reader: iam.IManagedPolicy

    def bind(self, scope: Construct, role: iam.IRole) -> BoundModelSource:
        role.add_managed_policy(self.reader)
        return BoundModelSource(
            model=SAGEMAKER_MODEL_DIR,
            revision=None,
            data_source=sagemaker.CfnModel.ModelDataSourceProperty(
                s3_data_source=sagemaker.CfnModel.S3DataSourceProperty(
                    s3_uri=self.bucket.s3_url_for_object(self.prefix),
                    s3_data_type="S3Prefix",
                    compression_type="None",
                )
            ),
            network_isolation=True,
        )
