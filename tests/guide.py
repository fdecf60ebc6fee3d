"""The guide's facts (SEED.md, steps 2, 4, 6 and 9), written out rather than derived from the app's
configuration, so that the tests catch a change to either."""

GUIDE_IMAGE = (
    "763104351884.dkr.ecr.us-west-2.amazonaws.com/huggingface-pytorch-tgi-inference:"
    "2.1.2-optimum0.0.28-neuronx-py310-ubuntu22.04-v1.2"
)
# What the guide passes to `docker run` (step 6) and its SageMaker notebooks.
GUIDE_ENVIRONMENT = {
    "HF_NUM_CORES": "2",
    "HF_BATCH_SIZE": "4",
    "HF_SEQUENCE_LENGTH": "4096",
    "HF_AUTO_CAST_TYPE": "fp16",
    "MAX_BATCH_SIZE": "4",
    "MAX_INPUT_LENGTH": "2048",
    "MAX_TOTAL_TOKENS": "4096",
    "MESSAGES_API_ENABLED": "true",
}
GUIDE_HUB_MODEL = "Gonsoo/AWS-HF-optimum-neuron-0-0-28-llama-3-Korean-Bllossom-8B"
GUIDE_INSTANCE_TYPE = "ml.inf2.xlarge"
GUIDE_NOTEBOOK_VOLUME_GB = 128
# Of those, what the 0.0.28 image's SageMaker entrypoint and text-generation-launcher read; the rest
# is read only by tgi_env.py, in the plain image, or by nothing (see inf2_llm/runtimes.py).
READ_ON_SAGEMAKER = ("MAX_BATCH_SIZE", "MAX_INPUT_LENGTH", "MAX_TOTAL_TOKENS")
