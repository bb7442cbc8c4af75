#!/usr/bin/env bash
# `make deploy`: the test build, then — only when it succeeded — the deploy build of the same
# source, each run by its own build account.
#
#   infra/cloudbuild-deploy.sh PROJECT REGION PROVIDERS REQUIRE_API_KEYS
#
# 1. cloudbuild-test.yaml as aiexec-tester (no deploy rights): lint, type-check, every test.
#    `gcloud builds submit` waits for the build and fails when it fails; --suppress-logs keeps
#    stdout to the build id (the logs are in Cloud Logging: a user-specified build account
#    logs there only; the console link is printed on stderr).
# 2. cloudbuild.yaml as aiexec-deployer, with _TESTED_BUILD set to that build's id: its first
#    step deploys nothing unless that build tested this very source (infra/cloudbuild_source.py).
#
# The accounts are the ones cloudbuild-test.yaml and cloudbuild.yaml name (`--service-account`
# sets the same value on the build; tests/deploy/test_cloudbuild.py keeps them equal).
# PROVIDERS (and AIEXEC_ALERT_CHANNELS, taken from the environment with AIEXEC_ALERT_EMAIL:
# where the alert policies notify) hold commas, so the substitutions use gcloud's alternate
# delimiter (`gcloud topic escaping`).
set -euo pipefail

if (($# != 4)); then
  echo "usage: $0 PROJECT REGION PROVIDERS REQUIRE_API_KEYS" >&2
  exit 2
fi
project=$1 region=$2 providers=$3 require_api_keys=$4
account() { echo "projects/${project}/serviceAccounts/aiexec-$1@${project}.iam.gserviceaccount.com"; }

echo "== test build (aiexec-tester: no deploy rights)" >&2
tested=$(gcloud builds submit --project="$project" --config=cloudbuild-test.yaml \
  --service-account="$(account tester)" --suppress-logs --format='value(id)' .)
echo "== test build ${tested} succeeded; deploy build (aiexec-deployer)" >&2

gcloud builds submit --project="$project" --config=cloudbuild.yaml \
  --service-account="$(account deployer)" \
  --substitutions="^;^_TESTED_BUILD=${tested};_REGION=${region};_PROVIDERS=${providers};_REQUIRE_API_KEYS=${require_api_keys};_ALERT_EMAIL=${AIEXEC_ALERT_EMAIL:-};_ALERT_CHANNELS=${AIEXEC_ALERT_CHANNELS:-}" .
