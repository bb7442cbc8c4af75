"""What each provider's spec declares reaches everything built from it, for every registered
provider: its worker's bundle (the SDK, and no other provider's), its worker's identity (its
roles, its key's secret, mounted as its variable), the local stack (its key in its worker
only), the simulator (its dialect) and the test stack (its endpoints hidden)."""

from __future__ import annotations

import pytest

from infra import bundles
from infra.deploy import Production, Target, build_production
from infra.deploy.bootstrap import required_apis
from infra.localstack.components import function_sources
from infra.localstack.envs import child_env
from infra.settings import Settings
from infra.simulator.dialects import dialects
from infra.simulator.faults import PROVIDERS
from shared.providers.registry import SPECS, known_providers
from tests.conftest import REAL_PROVIDER_ENV, REPO_ROOT

pytestmark = pytest.mark.usefixtures("default_settings_env")
EVERY_CHAIN = known_providers()


def production() -> Production:
    settings = Settings(providers=EVERY_CHAIN)
    return build_production(settings, Target("acme-ai-prod", "europe-west1", "123456789012"))


@pytest.fixture(params=EVERY_CHAIN)
def name(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


def test_a_worker_bundle_holds_its_sdk_and_no_other(name: str) -> None:
    built = bundles.bundles(Settings(providers=EVERY_CHAIN))
    worker = next(b for b in built if b.name == f"worker-{name}")
    installed = bundles.closure(bundles.load_lock(), worker.requirements)

    assert worker.requirements == bundles.BASE_REQUIREMENTS + SPECS[name].requirements
    others = {bundles.normalize(s.requirements[0]) for n, s in SPECS.items() if n != name}
    assert not others & installed, f"worker-{name} would install another provider's SDK"


def test_the_worker_identity_gets_its_roles_and_its_key(name: str) -> None:
    prod, spec = production(), SPECS[name]
    worker = prod.function(f"worker-{name}")
    bindings = prod.bindings_on("project", prod.target.project)
    project_roles = {b.role for b in bindings if b.member.endswith(worker.service_account)}

    assert set(spec.iam_roles) <= project_roles
    mounted = {(s.env, s.name) for s in worker.secrets}
    assert mounted == ({(spec.key.env, spec.key.secret)} if spec.key else set())
    for other in SPECS:  # no other worker holds this provider's key
        if other != name and spec.key is not None:
            elsewhere = prod.function(f"worker-{other}").secrets
            assert spec.key.env not in {s.env for s in elsewhere}


def test_bootstrap_enables_the_apis_its_calls_need(name: str) -> None:
    enabled = {api.name for api in required_apis(Settings(providers=[name]))}

    assert {service for service, _ in SPECS[name].apis} <= enabled


def test_the_local_stack_gives_a_key_to_its_own_worker_only(name: str) -> None:
    keys = {n: s.key.env for n, s in SPECS.items() if s.key is not None}
    base = {env: f"secret-of-{n}" for n, env in keys.items()}
    settings = Settings(providers=EVERY_CHAIN)

    worker = child_env(settings, REPO_ROOT, provider=name, base=base)
    ingest = child_env(settings, REPO_ROOT, base=base)

    assert {env for env in keys.values() if env in worker} == (
        {keys[name]} if name in keys else set()
    )
    assert not set(keys.values()) & set(ingest)


def test_the_simulator_speaks_its_dialect_and_the_test_stack_hides_its_endpoints(
    name: str,
) -> None:
    spec = SPECS[name]
    dialect = next(d for d in dialects() if name == d.PROVIDER)

    assert name in PROVIDERS  # `aiexec sim fault <name> ...` accepts it
    assert dialect.__name__ == spec.simulator.module  # type: ignore[attr-defined]
    route = spec.simulator.route.format(project="p", location="l", model="m")
    assert dialect.CALL_PATH.match(route), route
    assert set(spec.simulator.endpoint_env) <= set(REAL_PROVIDER_ENV)
    if spec.key is not None:
        assert spec.key.env in spec.simulator.endpoint_env  # a real key is a real endpoint


def test_the_local_stack_runs_a_worker_for_each_provider_of_the_chain_only() -> None:
    def workers(chain: list[str]) -> list[str | None]:
        return [p for _, _, p in function_sources(Settings(providers=chain)) if p is not None]

    assert workers(["openai", "vertex"]) == ["openai", "vertex"]
    assert workers(EVERY_CHAIN) == EVERY_CHAIN
