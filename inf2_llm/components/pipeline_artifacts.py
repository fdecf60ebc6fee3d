"""The pipeline's artifact store: the cloud assembly and build outputs each execution passes on."""

from __future__ import annotations

from constructs import Construct

from inf2_llm.components.encrypted_bucket import EncryptedBucket


class PipelineArtifacts(EncryptedBucket):
    """Artifacts only matter to the execution that wrote them, so they expire; bucket and key are
    retained so that a pipeline teardown loses no audit trail, and access logs kept for a year."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(
            scope,
            construct_id,
            purpose="the inf2-llm pipeline's artifacts",
            retain=True,
            noncurrent_version_days=1,
            current_version_days=30,
            access_log_days=365,
        )
