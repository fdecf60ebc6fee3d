#!/bin/bash
# Puts the model the endpoint serves into S3 and reports the outcome to the CloudFormation wait
# condition. Two ways to obtain it (MODEL_SOURCE): "compile" downloads the model and compiles it with
# the serving image's optimum-cli; "mirror" downloads a precompiled copy and the weights it was
# compiled from. Launched detached by on-start.sh at every start; an artifact already complete in S3
# is never prepared again.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "${BASH_SOURCE[0]%/*}/common.sh"

readonly ATTEMPTS=3
# Tests shorten the back-off between attempts.
readonly RETRY_DELAY_SECONDS=${INF2_LLM_RETRY_DELAY_SECONDS:-20}
# The compile of an 8B model needs more than the 16 GiB of an inf2.xlarge.
readonly MIN_MEMORY_KIB=$((32 * 1024 * 1024))
readonly SWAP_FILE=$STATE_DIR/swapfile
# Mounted as /data in the image, as in the guide; the artifact is assembled in /data/neuron.
readonly DATA_DIR=$VOLUME/data/$PROFILE
readonly ARTIFACT_DIR=$DATA_DIR/neuron
readonly S3_URI=s3://$ARTIFACT_BUCKET/${ARTIFACT_PREFIX%/}/
# Where the model records the settings it was compiled with.
readonly NEURON_CONFIG_LOCATION=("$ARTIFACT_DIR" --file "$NEURON_CONFIG_FILE" --section "$NEURON_CONFIG_SECTION")

write_status() {
  printf '%s %s\n' "$1" "$2" >"$STATUS_FILE.new"
  mv "$STATUS_FILE.new" "$STATUS_FILE"
}

# scripts/watch.py follows a deploy by these "phase: " lines.
progress() {
  write_status RUNNING "$1"
  log "phase: $1"
}

# The handle is a presigned S3 URL signed without a content type, hence the empty header.
signal_cloudformation() {
  local body
  body="{\"Status\":\"$1\",\"Reason\":$(json_string "$2"),\"UniqueId\":\"artifact\",\"Data\":$(json_string "$S3_URI")}"
  curl -fsS --retry 5 --max-time 60 -X PUT -H 'Content-Type:' --data-binary "$body" "$WAIT_HANDLE_URL" \
    || log "could not send $1 to the CloudFormation wait condition"
}

finish() {
  write_status "$1" "$2"
  log "$1: $2"
  signal_cloudformation "$1" "$2"
}

failure_reason=""
fail() {
  failure_reason=$1
  exit 1
}

# Every failing exit ends here, so CloudFormation hears of it instead of waiting for its timeout.
report_failure() {
  local status=$?
  # The report must go out even when, say, a full disk makes the status file unwritable.
  set +e
  ((status == 0)) || finish FAILURE "${failure_reason:-artifact job failed (exit status $status), see $STATE_DIR/artifact-job.log}"
}

retry() {
  local attempt=1
  until "$@"; do
    ((attempt < ATTEMPTS)) || return 1
    # To stderr: callers capture the command's output.
    log "attempt $attempt of $ATTEMPTS failed: $*" >&2
    sleep $((attempt * RETRY_DELAY_SECONDS))
    attempt=$((attempt + 1))
  done
}

# A listing, not a HeadObject: the role may list models/ only, and for a caller that may not list
# the key a missing object answers 403, indistinguishable from a refusal.
completed_artifacts() {
  aws s3api list-objects-v2 --region "$REGION" --bucket "$ARTIFACT_BUCKET" \
    --prefix "$ARTIFACT_PREFIX$COMPLETION_MARKER" --max-keys 1 --query KeyCount --output text
}

add_swap() {
  local memory_kib
  memory_kib=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
  ((memory_kib < MIN_MEMORY_KIB)) || return 0
  progress "adding swap space for the compiler"
  # Made under another name first: a half-made file must not pass for the swap file next time.
  # Chained, since the caller's `||` switches errexit off in here.
  if [[ ! -f $SWAP_FILE ]]; then
    fallocate -l "$(((MIN_MEMORY_KIB - memory_kib + 1048575) / 1048576))G" "$SWAP_FILE.new" \
      && chmod 600 "$SWAP_FILE.new" && mkswap "$SWAP_FILE.new" >/dev/null \
      && mv "$SWAP_FILE.new" "$SWAP_FILE" || return
  fi
  grep -qF "$SWAP_FILE " /proc/swaps || swapon "$SWAP_FILE"
}

read_hf_token() {
  HF_TOKEN=$(aws secretsmanager get-secret-value --region "$REGION" --secret-id "$HF_TOKEN_SECRET_ID" \
    --query SecretString --output text)
}

pull_image() {
  aws ecr get-login-password --region "$REGION" \
    | docker login --username AWS --password-stdin "${IMAGE_URI%%/*}" >/dev/null \
    && docker pull --quiet "$IMAGE_URI"
}

# `-e HF_TOKEN` hands the token over from this environment: no command line or log shows it.
in_image() {
  docker run --rm -e HF_TOKEN -v "$DATA_DIR:/data" "$@"
}

# Hub calls run in the image's own Python: its huggingface_hub is there, whatever its CLI is called.
hub() {
  in_image --entrypoint python3 "$IMAGE_URI" -c "$@"
}

# The commit of a repository: the pinned one, checked to exist, or the newest.
commit_of() {
  hub 'import sys; from huggingface_hub import HfApi; print(HfApi().model_info(sys.argv[1], revision=sys.argv[2] or None).sha)' \
    "$1" "$REVISION"
}

# repository, commit, directory under /data
download() {
  hub 'import sys; from huggingface_hub import snapshot_download; snapshot_download(sys.argv[1], revision=sys.argv[2], local_dir=sys.argv[3])' \
    "$@"
}

# The steps that read and write JSON are Python, on the notebook's python3.
artifact_tool() {
  python3 "$INSTALL_DIR/artifact_tool.py" "$@"
}

# The Hub id and commit a precompiled copy was exported from, as its neuron configuration records them.
compiled_from() {
  artifact_tool compiled-from "${NEURON_CONFIG_LOCATION[@]}"
}

# Exported from a local checkpoint, optimum-neuron copies the weights into the artifact, so the
# endpoint loads it from S3 alone.
export_model() {
  in_image --entrypoint optimum-cli --privileged "$IMAGE_URI" export neuron --model /data/checkpoint \
    "${EXPORT_OPTIONS[@]}" /data/neuron
}

# The model must have been compiled with the settings the endpoint serves it with: a compile that
# ignored a flag, or a precompiled copy made otherwise, would fail or misbehave only after a
# 20-minute deploy. Say so now.
check_neuron_config() {
  artifact_tool check "${NEURON_CONFIG_LOCATION[@]}" --expected "$NEURON_CONFIG" 2>&1
}

obtain_by_compiling() {
  add_swap || fail "could not add swap space in $SWAP_FILE"
  progress "downloading $REPOSITORY at $1"
  retry download "$REPOSITORY" "$1" /data/checkpoint || fail "download of $REPOSITORY at $1 failed"
  progress "compiling $REPOSITORY at $1"
  export_model || fail "optimum-cli export exited with status $?"
  CHECKPOINT_ID=$REPOSITORY CHECKPOINT_REVISION=$1
}

# The copies were exported from a Hub id and published without checkpoint/ (the guide's
# --exclude "checkpoint/**"); without it optimum-neuron fetches the weights from the Hub when the
# endpoint starts, which network isolation forbids. So they are fetched now, into checkpoint/,
# where an export from a local path puts them.
obtain_by_mirroring() {
  progress "downloading $REPOSITORY at $1"
  retry download "$REPOSITORY" "$1" /data/neuron || fail "download of $REPOSITORY at $1 failed"
  local checkpoint
  checkpoint=$(compiled_from) || fail "$REPOSITORY's config.json names no checkpoint_id and checkpoint_revision"
  read -r CHECKPOINT_ID CHECKPOINT_REVISION <<<"$checkpoint"
  progress "downloading $CHECKPOINT_ID at $CHECKPOINT_REVISION, the weights $REPOSITORY was compiled from"
  retry download "$CHECKPOINT_ID" "$CHECKPOINT_REVISION" /data/neuron/checkpoint \
    || fail "download of $CHECKPOINT_ID at $CHECKPOINT_REVISION failed"
  # The downloads' own bookkeeping is no part of the model.
  rm -rf "$ARTIFACT_DIR/.cache" "$ARTIFACT_DIR/checkpoint/.cache"
}

write_manifest() {
  artifact_tool manifest "$ARTIFACT_DIR" --model-source "$MODEL_SOURCE" --model-id "$REPOSITORY" --revision "$1" \
    --checkpoint-id "$CHECKPOINT_ID" --checkpoint-revision "$CHECKPOINT_REVISION" --image "$IMAGE_URI" \
    --settings "$COMPILATION" >"$DATA_DIR/manifest.json"
  mv "$DATA_DIR/manifest.json" "$ARTIFACT_DIR/manifest.json"
}

# Readers take the marker as "the artifact is complete": an old one goes first, the new one last.
upload_artifact() {
  aws s3 rm --region "$REGION" --only-show-errors "$S3_URI$COMPLETION_MARKER" \
    && aws s3 sync --region "$REGION" --only-show-errors --delete "$ARTIFACT_DIR/" "$S3_URI" \
    && aws s3 cp --region "$REGION" --only-show-errors "$ARTIFACT_DIR/manifest.json" \
      "$S3_URI$COMPLETION_MARKER"
}

# Runs after CloudFormation has its answer, so a failure here cannot fail the deployment: the
# endpoint serves from S3, and the Hub copy is a convenience for sharing the compiled model.
# The whole folder goes up, weights included: exported from a local checkpoint, the model has no
# Hub checkpoint to fall back on (unlike the guide's, hence no `--exclude "checkpoint/**"`).
publish_to_hub() {
  [[ -n $PUBLISH_REPO ]] || return 0
  if [[ ! -v HF_TOKEN ]]; then
    log "not publishing to $PUBLISH_REPO: publishing needs the Hugging Face token secret"
    return
  fi
  log "publishing to https://huggingface.co/$PUBLISH_REPO"
  if hub 'import sys; from huggingface_hub import HfApi; api = HfApi(); api.create_repo(sys.argv[1], exist_ok=True); api.upload_folder(repo_id=sys.argv[1], folder_path=sys.argv[2])' \
    "$PUBLISH_REPO" /data/neuron; then
    log "published to https://huggingface.co/$PUBLISH_REPO"
  else
    log "publishing to $PUBLISH_REPO failed (exit status $?); the S3 artifact is unaffected"
  fi
}

main() {
  exec 9>"$LOCK_FILE"
  if ! flock -n 9; then
    echo "Another artifact job holds $LOCK_FILE; leaving the work to it"
    return
  fi
  open_log_stream "$(notebook_name)/artifact-job"
  trap report_failure EXIT
  # A stop of the instance (SIGTERM) is no failure: the next start carries on.
  trap 'trap - EXIT; exit 143' TERM
  local completed
  completed=$(retry completed_artifacts) || fail "could not look for a finished artifact in $S3_URI"
  if ((completed > 0)); then
    # Sent at every start: an earlier start may have stopped before its signal got through, and a
    # replaced notebook (a new volume) must not prepare again what S3 already holds.
    trap - EXIT
    finish SUCCESS "model already complete in $S3_URI"
    return
  fi
  if [[ -n $HF_TOKEN_SECRET_ID ]]; then
    progress "reading the Hugging Face token"
    read_hf_token || fail "could not read the Hugging Face token from $HF_TOKEN_SECRET_ID"
    export HF_TOKEN
  fi
  progress "pulling $IMAGE_URI"
  retry pull_image || fail "docker pull of $IMAGE_URI failed $ATTEMPTS times"
  local commit
  commit=$(retry commit_of "$REPOSITORY") || fail "could not look up $REPOSITORY${REVISION:+ at $REVISION} on the Hugging Face Hub"
  # What a stopped earlier run left behind is not to be trusted.
  rm -rf "$ARTIFACT_DIR"
  case $MODEL_SOURCE in
    compile) obtain_by_compiling "$commit" ;;
    mirror) obtain_by_mirroring "$commit" ;;
  esac
  progress "checking the model against the endpoint's settings"
  local mismatch
  mismatch=$(check_neuron_config) || fail "$REPOSITORY cannot be served as configured: $mismatch"
  progress "writing the manifest"
  write_manifest "$commit"
  progress "uploading to $S3_URI"
  upload_artifact || fail "upload to $S3_URI failed"
  finish SUCCESS "model complete in $S3_URI"
  # Nothing after the success may report a failure to CloudFormation.
  trap - EXIT
  publish_to_hub
}

main
