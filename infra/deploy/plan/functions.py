"""The Cloud Functions as steps: each one's `gcloud functions deploy` command, and taking
`allUsers` off those that must not be public."""

from __future__ import annotations

from infra import bundles
from infra.deploy.gcp.gcloud import escaped_flag, gcloud_argv
from infra.deploy.model import Function, Production
from infra.deploy.plan.steps import Command, Step

RUNTIME = "python312"
MANAGED_LABEL = "managed-by=aiexec"
_ENV_DELIMITERS = ("|", "@", "#", "~", ";")


def env_flag(env: tuple[tuple[str, str], ...]) -> str:
    """`--set-env-vars`, escaped with gcloud's `^D^` syntax when a value holds a comma."""
    pairs = [f"{k}={v}" for k, v in env]
    if not any("," in p for p in pairs):
        return "--set-env-vars=" + ",".join(pairs)
    return escaped_flag("--set-env-vars", pairs, _ENV_DELIMITERS)


def deploy_command(fn: Function, prod: Production) -> tuple[str, ...]:
    auth = "--allow-unauthenticated" if fn.public else "--no-allow-unauthenticated"
    secrets = (
        f"--set-secrets={','.join(s.flag_value() for s in fn.secrets)}"
        if fn.secrets
        else "--clear-secrets"  # a secret removed from settings leaves the function
    )
    return gcloud_argv(
        "functions",
        "deploy",
        fn.name,
        "--gen2",
        f"--region={prod.target.region}",
        f"--runtime={RUNTIME}",
        f"--source={bundles.BUILD_DIR / fn.bundle}",
        f"--build-service-account=projects/{prod.target.project}/serviceAccounts/"
        f"{prod.bootstrap.builder.email}",
        f"--entry-point={fn.entry_point}",
        "--trigger-http",
        auth,
        f"--service-account={fn.service_account}",
        f"--timeout={fn.timeout_s}s",
        f"--memory={fn.memory}",
        f"--cpu={fn.cpu}",
        f"--concurrency={fn.concurrency}",
        f"--max-instances={fn.max_instances}",
        "--min-instances=0",
        "--ingress-settings=all",
        f"--update-labels={MANAGED_LABEL}",
        env_flag(fn.env),
        secrets,
        project=prod.target.project,
    )


def function_steps(prod: Production) -> list[Step]:
    steps = []
    for fn in prod.functions:
        who = "public (API keys)" if fn.public else "IAM only"
        fed = f"pushed by {fn.push_subscription}" if fn.push_subscription else "HTTP"
        text = f"{fn.name} ({fed}; {who}; runs as {fn.service_account})"
        if fn.note:
            text += f"\n{fn.note}"
        steps.append(Step("functions", text, Command(deploy_command(fn, prod))))
    return steps


def revoke_public_steps(prod: Production) -> list[Step]:
    """A function that must not be public loses `allUsers` if an older deploy (API keys on)
    or a console click granted it: every deploy converges to the definition."""
    project, region = prod.target.project, prod.target.region
    steps = []
    for fn in prod.functions:
        if fn.public:
            continue
        policy = gcloud_argv(
            "run",
            "services",
            "get-iam-policy",
            fn.name,
            f"--region={region}",
            "--format=json",
            project=project,
        )
        argv = (
            "functions",
            "remove-invoker-policy-binding",
            fn.name,
            f"--region={region}",
            "--member=allUsers",
        )
        steps.append(
            Step(
                "invokers",
                f"function {fn.name}: not public (allUsers removed if present)",
                Command(gcloud_argv(*argv, project=project), only_if=(policy, "allUsers")),
            )
        )
    return steps
