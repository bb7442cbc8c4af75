#!/usr/bin/env bash
# Cloud Build step wrapper: make sure the build image has what `make` needs, then run "$@".
# Each Cloud Build step is a fresh container of the image (only /workspace persists), so every
# step that runs make calls this first; it installs nothing when the tools are already there.
set -euo pipefail

missing=()
command -v make >/dev/null || missing+=(make)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

exec "$@"
