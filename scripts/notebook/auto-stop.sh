#!/bin/bash
# Run every 5 minutes by the inf2-llm-auto-stop timer: stops the notebook instance once it has been
# idle for IDLE_MINUTES. Never while the artifact job holds its lock: the stop would kill the job,
# and CloudFormation waits for it.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "${BASH_SOURCE[0]%/*}/common.sh"

job_running() {
  [[ -e $LOCK_FILE ]] && ! flock -n "$LOCK_FILE" true
}

# Seconds since the last use: Jupyter kernels (a busy one counts as now) and terminals, where the
# guide's Docker work happens, the start of the instance (settings.sh is written at every start) and
# the last step of the artifact job (the status file).
idle_seconds() {
  local sessions terminals
  # Jupyter listens on 8443 with a self-signed certificate.
  sessions=$(curl -fsSk --max-time 10 https://localhost:8443/api/sessions) || return
  terminals=$(curl -fsSk --max-time 10 https://localhost:8443/api/terminals) || return
  python3 - "$sessions" "$terminals" "$INSTALL_DIR/settings.sh" "$STATUS_FILE" <<'PY'
import json, os, sys, time
from datetime import datetime

sessions, terminals = (json.loads(listing) for listing in sys.argv[1:3])
kernels = [session["kernel"] for session in sessions]
if any(kernel.get("execution_state") in ("busy", "starting", "restarting") for kernel in kernels):
    print(0)
    sys.exit()
times = [os.path.getmtime(path) for path in sys.argv[3:] if os.path.exists(path)]
times += [datetime.fromisoformat(item["last_activity"].replace("Z", "+00:00")).timestamp()
          for item in kernels + terminals if item.get("last_activity")]
print(int(time.time() - max(times)))
PY
}

if job_running; then
  echo "The artifact job is running; not stopping"
  exit 0
fi
if ! idle=$(idle_seconds); then
  echo "Jupyter did not answer; not stopping an instance whose use is unknown"
  exit 0
fi
if ((idle < IDLE_MINUTES * 60)); then
  echo "Idle for ${idle}s of $((IDLE_MINUTES * 60))s; not stopping"
  exit 0
fi
name=$(notebook_name)
open_log_stream "$name/auto-stop"
log "Idle for ${idle}s and no artifact job running: stopping notebook instance $name"
aws sagemaker stop-notebook-instance --region "$REGION" --notebook-instance-name "$name"
