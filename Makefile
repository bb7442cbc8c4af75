# AI Execution System — `make run` (the demo, end to end, locally) and `make test` (every test).
# Both install what they need: uv (pinned) into .tools/, then the locked environment into .venv/.

PYTHON      ?= python3
UV_VERSION  := 0.13.8
TOOLS       := .tools
UV          := $(TOOLS)/bin/uv
VENV        := .venv
BIN         := $(VENV)/bin
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: help install prereqs run test test-fast lint typecheck format up down clean bench

help:
	@echo "make run    - start the local stack, run the demo (incl. an OpenAI outage), stop"
	@echo "make test   - lint, type-check and run every test (starts its own emulators)"
	@echo "make test-fast - the quick loop: lint and the tests that need no emulator (< 1 min)"
	@echo "make up / make down - start / stop the local stack in the background"
	@echo "make lint | typecheck | format | clean"

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "Python >= 3.11 is required (found: $$($(PYTHON) --version))"; exit 1; }
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

# The locked environment, with the `bench` group (LiteLLM, the benchmark's peer: `make bench`
# runs it and `make test` checks it; no deployed function gets it, see infra/bundles.py).
$(VENV)/.installed: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --group bench --python $(PYTHON)
	@touch $@

install: $(VENV)/.installed

prereqs:
	@command -v gcloud >/dev/null || { echo "Missing the Google Cloud CLI (gcloud). Install it: https://cloud.google.com/sdk/docs/install (Debian/Ubuntu: apt-get install google-cloud-cli)"; exit 1; }
	@command -v java >/dev/null || { echo "Missing Java (the emulators need Java 11+). Debian/Ubuntu: apt-get install openjdk-17-jre-headless"; exit 1; }
	@gcloud beta emulators pubsub env-init --help >/dev/null 2>&1 || { echo "Missing the Pub/Sub emulator: apt-get install google-cloud-cli-pubsub-emulator (or: gcloud components install pubsub-emulator beta)"; exit 1; }
	@gcloud emulators firestore --help >/dev/null 2>&1 || { echo "Missing the Firestore emulator: apt-get install google-cloud-cli-firestore-emulator (or: gcloud components install cloud-firestore-emulator)"; exit 1; }

run: install prereqs
	@$(BIN)/aiexec down >/dev/null 2>&1 || true
	@$(BIN)/aiexec up --detach && { $(BIN)/aiexec demo; rc=$$?; $(BIN)/aiexec down; exit $$rc; }

up: install prereqs
	$(BIN)/aiexec up --detach

down: install
	$(BIN)/aiexec down

# The pipeline against the floor of its infrastructure and a peer, LiteLLM's Router, then 10,000
# tasks through the batch lane (own stack on free ports; 10 min 9 s on 2 cores under load 4-5, the
# batch lane ~2 min of it). The peer is in the `bench` dependency group, which `install` syncs.
bench: install prereqs
	$(BIN)/aiexec bench

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy aiexec shared infra functions tests benchmarks

test: install prereqs lint typecheck
	$(BIN)/pytest

# The quick loop: the tests that need no local stack (no emulator, no function server) and
# no slow subprocesses (gcloud --help, pip installs: marked `slow`). `make test` runs them all.
test-fast: install lint
	$(BIN)/pytest -m "not stack and not slow" -q

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	-$(BIN)/aiexec down >/dev/null 2>&1
	rm -rf $(VENV) $(TOOLS) .aiexec .mypy_cache .ruff_cache .pytest_cache

# Deploy through Cloud Build (see README, Deploy): the test build (cloudbuild-test.yaml, as
# aiexec-tester: no deploy rights), then the deploy build of the same source (cloudbuild.yaml,
# as aiexec-deployer), which refuses unless that test build succeeded.
PROVIDERS ?= openai,vertex
REQUIRE_API_KEYS ?= true
.PHONY: deploy
deploy:
	@test -n "$(PROJECT)" -a -n "$(REGION)" || { echo "usage: make deploy PROJECT=<project id> REGION=<region> [PROVIDERS=openai,vertex] [REQUIRE_API_KEYS=false]"; exit 2; }
	bash infra/cloudbuild-deploy.sh '$(PROJECT)' '$(REGION)' '$(PROVIDERS)' '$(REQUIRE_API_KEYS)'
