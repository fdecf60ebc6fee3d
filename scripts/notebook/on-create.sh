#!/bin/bash
# Intentionally does nothing. Only /home/ec2-user/SageMaker survives a stop, so all set-up is redone
# at every start by on-start.sh, which SageMaker also runs right after this hook on the first start.
set -euo pipefail
