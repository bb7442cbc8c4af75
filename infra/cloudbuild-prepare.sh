#!/usr/bin/env bash
# Cloud Build step wrapper: make sure the build image has what `make` (and the deploy's gcloud
# alpha commands) need, then run "$@".
# Each Cloud Build step is a fresh container of the image (only /workspace persists), so every
# step that runs make calls this first; it installs nothing when the tools are already there.
set -euo pipefail

# gcloud's alpha track: the deploy's alert policies and notification channels are only there
# (docs/observability.md), and the tests check those commands' flags against their --help.
if ! CLOUDSDK_CORE_DISABLE_PROMPTS=1 gcloud alpha --help </dev/null >/dev/null 2>&1; then
  echo "installing: the gcloud alpha component"
  gcloud components install alpha --quiet
fi

if [[ ${1:-} == make ]]; then  # what make itself needs (the deploy step runs no make)
  missing=()
  command -v make >/dev/null || missing+=(make)
  python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
  command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
  if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi

exec "$@"
