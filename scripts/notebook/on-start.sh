#!/bin/bash
# Runs as root at every start of the notebook instance. SageMaker fails the instance when a hook runs
# for more than 5 minutes, so the artifact job (a compile takes an hour) is only launched here, detached.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "${BASH_SOURCE[0]%/*}/common.sh"

readonly DOCKER_DATA_ROOT=$VOLUME/docker-data
readonly DAEMON_JSON=/etc/docker/daemon.json
readonly AUTO_STOP_UNIT=inf2-llm-auto-stop

docker_root_dir() {
  docker info 2>/dev/null | sed -n 's/^ *Docker Root Dir: //p'
}

# The root volume is too small for the TGI Neuron image and the model; on the persistent volume,
# images pulled before a stop are still there after the next start.
relocate_docker() {
  if [[ $(docker_root_dir) == "$DOCKER_DATA_ROOT" ]]; then
    # Re-run within one boot: restarting Docker would kill running containers, the job's too.
    echo "Docker already keeps its data in $DOCKER_DATA_ROOT"
    return
  fi
  # The socket too, or a client call would start Docker again with the old data root.
  systemctl stop docker docker.socket
  mkdir -p /etc/docker "$DOCKER_DATA_ROOT"
  python3 - "$DAEMON_JSON" "$DOCKER_DATA_ROOT" <<'PY'
import json, os, sys

path, data_root = sys.argv[1:]
config = {}
if os.path.exists(path):
    with open(path) as existing:
        config = json.load(existing)
config["data-root"] = data_root
with open(f"{path}.{os.getpid()}", "w") as new:
    json.dump(config, new, indent=2)
os.replace(f"{path}.{os.getpid()}", path)
PY
  systemctl enable docker
  systemctl start docker
  if [[ $(docker_root_dir) != "$DOCKER_DATA_ROOT" ]]; then
    echo "Docker did not take $DOCKER_DATA_ROOT as its data root" >&2
    return 1
  fi
  echo "Docker keeps its data in $DOCKER_DATA_ROOT"
}

# AL2023 notebook instances have no cron; a systemd timer looks for idleness instead.
install_auto_stop() {
  cat >"/etc/systemd/system/$AUTO_STOP_UNIT.service" <<UNIT
[Unit]
Description=Stop this notebook instance after $IDLE_MINUTES idle minutes unless the artifact job runs
[Service]
Type=oneshot
ExecStart=$INSTALL_DIR/auto-stop.sh
UNIT
  cat >"/etc/systemd/system/$AUTO_STOP_UNIT.timer" <<'UNIT'
[Unit]
Description=Check every 5 minutes whether this notebook instance is idle
[Timer]
OnActiveSec=5min
OnUnitActiveSec=5min
[Install]
WantedBy=timers.target
UNIT
  systemctl daemon-reload
  systemctl enable --now "$AUTO_STOP_UNIT.timer"
}

# A new session, so the hook runner's clean-up of this hook's process group does not reach the job;
# no stream left open, so the runner does not wait for the job's output.
launch_artifact_job() {
  setsid "$INSTALL_DIR/artifact-job.sh" >>"$STATE_DIR/artifact-job.log" 2>&1 </dev/null &
  echo "Artifact job launched; progress in $STATUS_FILE and CloudWatch Logs group $LOG_GROUP_NAME"
}

mkdir -p "$STATE_DIR"
# Two starts at once must not interleave Docker's restarts. The job is launched after the lock is
# released, or it would hold the lock for the length of the job.
(
  flock -w 120 9
  relocate_docker
  install_auto_stop
) 9>"$STATE_DIR/on-start.lock"
# settings.sh names a model source only when the stack serves the model from S3.
if [[ -v MODEL_SOURCE ]]; then
  launch_artifact_job
else
  echo "No artifact job configured"
fi
