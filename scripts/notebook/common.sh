# Sourced by on-start.sh, artifact-job.sh and auto-stop.sh. The on-start hook installs them all, with
# the settings.sh that inf2_llm/lifecycle.py generates, into one root-only directory.
# The constants below are used by the scripts that source this file, hence SC2034 is off.
# shellcheck shell=bash disable=SC2034

# SageMaker starts both hooks with "/sbin:bin:/usr/sbin:/usr/bin" (CreateNotebookInstanceLifecycleConfig:
# "The value of the $PATH environment variable that is available to both scripts is
# /sbin:bin:/usr/sbin:/usr/bin", https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateNotebookInstanceLifecycleConfig.html);
# the detached job inherits it; the auto-stop unit gets systemd's. One PATH for all three, without the
# relative "bin" (it depends on the directory the hook starts in) and with /usr/local, which SageMaker's
# lacks: on AL2023 /usr/bin holds the OS packages' executables and /usr/local "software that is not
# owned by the OS" (https://docs.aws.amazon.com/linux/al2023/ug/filesystem-slash-usr.html), such as an
# AWS CLI put there by its own installer ("--bin-dir ... The default value is /usr/local/bin",
# https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html). Never the conda
# environments under /home/ec2-user: the notebook's user can write there, and root must not run what
# that user can replace.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# settings.sh exists only once rendered; its names are upper case, which shellcheck takes as set.
# shellcheck source=/dev/null
source "${BASH_SOURCE[0]%/*}/settings.sh"

readonly INSTALL_DIR=${BASH_SOURCE[0]%/*}
# The one place that survives a stop and start of the notebook instance.
readonly VOLUME=/home/ec2-user/SageMaker
readonly STATE_DIR=$VOLUME/.inf2-llm
readonly LOCK_FILE=$STATE_DIR/artifact-job.lock
readonly STATUS_FILE=$STATE_DIR/status

# Our own one-line messages only need these escapes; no python3 start-up per log line.
json_string() {
  local text=${1//\\/\\\\}
  text=${text//\"/\\\"}
  text=${text//$'\n'/\\n}
  text=${text//$'\t'/\\t}
  printf '"%s"' "$text"
}

notebook_name() {
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["ResourceName"])' \
    /opt/ml/metadata/resource-metadata.json
}

open_log_stream() {
  LOG_STREAM=$1
  # On a restart the stream already exists; that error is the expected answer.
  aws logs create-log-stream --region "$REGION" --log-group-name "$LOG_GROUP_NAME" \
    --log-stream-name "$LOG_STREAM" >/dev/null 2>&1 || true
}

# To stdout (the local log) and to CloudWatch Logs once open_log_stream has run. A CloudWatch failure
# is left on stderr and otherwise ignored: losing a log line must not stop the work it describes.
log() {
  printf '%s %s\n' "$(date -u +%FT%TZ)" "$1"
  [[ -v LOG_STREAM ]] || return 0
  aws logs put-log-events --region "$REGION" --log-group-name "$LOG_GROUP_NAME" \
    --log-stream-name "$LOG_STREAM" \
    --log-events "[{\"timestamp\":$(date +%s%3N),\"message\":$(json_string "$1")}]" >/dev/null || true
}
