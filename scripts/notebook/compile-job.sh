#!/bin/bash
# Compiles the configured model for Inferentia2, uploads it to S3 for the endpoint and reports the
# outcome to the CloudFormation wait condition. Launched detached by on-start.sh at every start; a done
# marker on the persistent volume turns later starts into a no-op.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "${BASH_SOURCE[0]%/*}/common.sh"

readonly ATTEMPTS=3
# Tests shorten the back-off between attempts.
readonly RETRY_DELAY_SECONDS=${INF2_LLM_RETRY_DELAY_SECONDS:-20}
# The compile of an 8B model needs more than the 16 GiB of an inf2.xlarge.
readonly MIN_MEMORY_KIB=$((32 * 1024 * 1024))
readonly SWAP_FILE=$STATE_DIR/swapfile
readonly DONE_MARKER=$STATE_DIR/compile.done
# Mounted as /data in the image, as in the guide; the model is exported to /data/neuron.
readonly DATA_DIR=$VOLUME/data/$PROFILE
readonly EXPORT_DIR=$DATA_DIR/neuron
readonly S3_URI=s3://$ARTIFACT_BUCKET/${ARTIFACT_PREFIX%/}/

# Everything that makes a different artifact; a change of any of it compiles again.
compile_identity() {
  printf '%s\n' "$MODEL_ID" "$IMAGE_URI" "$BATCH_SIZE" "$SEQUENCE_LENGTH" "$AUTO_CAST_TYPE" \
    "$NUM_CORES" "$S3_URI"
}

write_status() {
  printf '%s %s\n' "$1" "$2" >"$STATUS_FILE.new"
  mv "$STATUS_FILE.new" "$STATUS_FILE"
}

progress() {
  write_status RUNNING "$1"
  log "$1"
}

# The handle is a presigned S3 URL signed without a content type, hence the empty header.
signal_cloudformation() {
  local body
  body="{\"Status\":\"$1\",\"Reason\":$(json_string "$2"),\"UniqueId\":\"compile\",\"Data\":$(json_string "$S3_URI")}"
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
  ((status == 0)) || finish FAILURE "${failure_reason:-compile job failed (exit status $status), see $STATE_DIR/compile.log}"
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

# The exact commit goes into the manifest, and the download is pinned to it.
model_revision() {
  in_image --entrypoint python3 "$IMAGE_URI" -c \
    'import sys; from huggingface_hub import HfApi; print(HfApi().model_info(sys.argv[1]).sha)' "$MODEL_ID"
}

download_checkpoint() {
  in_image --entrypoint huggingface-cli "$IMAGE_URI" download "$MODEL_ID" --revision "$1" \
    --local-dir /data/checkpoint
}

# Exported from the local checkpoint, optimum-neuron copies the weights into the artifact, so the
# endpoint loads it from S3 alone.
export_model() {
  in_image --entrypoint optimum-cli --privileged "$IMAGE_URI" export neuron --model /data/checkpoint \
    --batch_size "$BATCH_SIZE" --sequence_length "$SEQUENCE_LENGTH" --auto_cast_type "$AUTO_CAST_TYPE" \
    --num_cores "$NUM_CORES" /data/neuron
}

write_manifest() {
  python3 - "$EXPORT_DIR" "$MODEL_ID" "$1" "$IMAGE_URI" "$BATCH_SIZE" "$SEQUENCE_LENGTH" \
    "$AUTO_CAST_TYPE" "$NUM_CORES" >"$DATA_DIR/manifest.json" <<'PY'
import hashlib, json, os, sys

root, model_id, revision, image, batch_size, sequence_length, auto_cast_type, num_cores = sys.argv[1:]


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as content:
        for block in iter(lambda: content.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


paths = sorted(os.path.relpath(os.path.join(folder, name), root)
               for folder, _, names in os.walk(root) for name in names)
json.dump({
    "model_id": model_id,
    "revision": revision,
    "image": image,
    "settings": {"batch_size": int(batch_size), "sequence_length": int(sequence_length),
                 "auto_cast_type": auto_cast_type, "num_cores": int(num_cores)},
    "files": [{"path": path, "size": os.path.getsize(os.path.join(root, path)),
               "sha256": sha256(os.path.join(root, path))} for path in paths],
}, sys.stdout, indent=2)
PY
  mv "$DATA_DIR/manifest.json" "$EXPORT_DIR/manifest.json"
}

# Readers take the marker as "the artifact is complete": an old one goes first, the new one last.
upload_artifact() {
  aws s3 rm --region "$REGION" --only-show-errors "$S3_URI$COMPLETION_MARKER" \
    && aws s3 sync --region "$REGION" --only-show-errors --delete "$EXPORT_DIR/" "$S3_URI" \
    && aws s3 cp --region "$REGION" --only-show-errors "$EXPORT_DIR/manifest.json" \
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
  if in_image --entrypoint huggingface-cli "$IMAGE_URI" upload "$PUBLISH_REPO" /data/neuron; then
    log "published to https://huggingface.co/$PUBLISH_REPO"
  else
    log "publishing to $PUBLISH_REPO failed (exit status $?); the S3 artifact is unaffected"
  fi
}

main() {
  exec 9>"$LOCK_FILE"
  if ! flock -n 9; then
    echo "Another compile job holds $LOCK_FILE; leaving the work to it"
    return
  fi
  open_log_stream "$(notebook_name)/compile"
  if cmp -s "$DONE_MARKER" <(compile_identity); then
    # Sent again because the previous start may have stopped before it got through.
    log "$MODEL_ID is already compiled in $S3_URI"
    signal_cloudformation SUCCESS "compiled model in $S3_URI"
    return
  fi
  trap report_failure EXIT
  # A stop of the instance (SIGTERM) is no failure: the next start compiles again.
  trap 'trap - EXIT; exit 143' TERM
  add_swap || fail "could not add swap space in $SWAP_FILE"
  if [[ -n $HF_TOKEN_SECRET_ID ]]; then
    progress "reading the Hugging Face token"
    read_hf_token || fail "could not read the Hugging Face token from $HF_TOKEN_SECRET_ID"
    export HF_TOKEN
  fi
  progress "pulling $IMAGE_URI"
  retry pull_image || fail "docker pull of $IMAGE_URI failed $ATTEMPTS times"
  progress "downloading $MODEL_ID"
  local revision
  revision=$(retry model_revision) || fail "could not look up $MODEL_ID on the Hugging Face Hub"
  retry download_checkpoint "$revision" || fail "download of $MODEL_ID at $revision failed"
  progress "compiling $MODEL_ID at $revision"
  # What a stopped earlier run left behind is not to be trusted.
  rm -rf "$EXPORT_DIR"
  export_model || fail "optimum-cli export exited with status $?"
  progress "writing the manifest"
  write_manifest "$revision"
  progress "uploading to $S3_URI"
  upload_artifact || fail "upload to $S3_URI failed"
  compile_identity >"$DONE_MARKER"
  finish SUCCESS "compiled model in $S3_URI"
  # Nothing after the success may report a failure to CloudFormation.
  trap - EXIT
  publish_to_hub
}

main
