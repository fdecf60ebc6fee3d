#!/usr/bin/env bash
# Sets the project up on a fresh machine (Python 3.11, Node 20) and runs one of its tasks:
#   scripts/dev.sh synth [cdk synth options]   synthesize the app (no AWS credentials needed)
#   scripts/dev.sh test [pytest options]       run every test, the gates and the rehearsal included
#   scripts/dev.sh bench-synth [runs]          full synth against an empty app's, medians
# Set-up is repeated only when requirements or the npm lock file change.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export JSII_RUNTIME_PACKAGE_CACHE_ROOT="$PWD/.build/jsii-cache"
# Node 20 still synthesizes, but it is past jsii's support and jsii's banner would bury the output
# of every run. jsii reads this variable as the major versions, comma-separated, whose end-of-life
# banner to skip (aws/jsii#4325); any newer Node it warns about is still reported.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=1
export CDK_DISABLE_CLI_TELEMETRY=true

install_python() {
  local requirements=$1 stamp=.venv/.installed-$1
  if [ ! -x .venv/bin/python ]; then
    "$(command -v python3.11 || command -v python3)" -m venv .venv
  fi
  if ! cmp -s <(cat requirements*.txt) "$stamp" 2>/dev/null; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements"
    cat requirements*.txt >"$stamp"
  fi
}

install_cdk_cli() {
  if ! cmp -s package-lock.json node_modules/.installed-lock 2>/dev/null; then
    npm ci --no-audit --no-fund --loglevel=error
    cp package-lock.json node_modules/.installed-lock
  fi
}

install_shellcheck() {
  command -v shellcheck >/dev/null && return
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null
}

task=${1:-}
shift || true
case "$task" in
  synth)
    install_python requirements.txt
    install_cdk_cli
    exec npx --no-install cdk synth --quiet "$@"
    ;;
  test)
    install_python requirements-dev.txt
    install_cdk_cli
    install_shellcheck
    # One pytest-xdist worker more than there are cores (tests/conftest.py says how tests are grouped):
    # the rehearsals and the sandboxed hooks spend much of their time waiting on other processes,
    # and on 2 cores a third worker fills that time (116 s against 122 s with two). Past four, the
    # rehearsal alone sets the time and each worker only adds its own load of the CDK libraries.
    # Options given after `test` come later and win, e.g. `-n 0` to run in this process.
    workers=$(($(nproc) + 1))
    exec .venv/bin/python -m pytest --numprocesses "$((workers < 4 ? workers : 4))" "$@"
    ;;
  bench-synth)
    install_python requirements.txt
    install_cdk_cli
    exec .venv/bin/python scripts/synth_benchmark.py "$@"
    ;;
  *)
    sed -n '2,6p' "$0" >&2
    exit 2
    ;;
esac
