"""The guide's facts (SEED.md, steps 2, 4, 6 and 9), written out rather than derived from the app's
configuration, so that the tests catch a change to either."""

GUIDE_IMAGE = (
    "763104351884.dkr.ecr.us-west-2.amazonaws.com/huggingface-pytorch-tgi-inference:"
    "2.1.2-optimum0.0.28-neuronx-py310-ubuntu22.04-v1.2"
)
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
