"""The deployment as an ordered plan of steps: library calls and `gcloud` commands.

Two parts. The bootstrap (`bootstrap_steps`, applied by a project owner with `aiexec deploy
--bootstrap-only`): APIs, the Firestore database, the secrets, the custom role, the build
identities with their (conditional) roles, the runtime identities, who may act as them and
which may read which secret. The deployment (`build_plan`, what the deployer's build applies):
identities' project roles, Firestore before the code that queries it, the topology before its
IAM, the functions before their invokers, and the Cloud Scheduler jobs (the first producers of
traffic) last. `render()` is the `--dry-run` output: every resource, role, condition and
command, computed without credentials or network (a secret mounted as `latest` shows
`<resolved at deploy>`: the real deploy pins the version number current then).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from infra import bundles
from infra.deploy.bootstrap import Bootstrap
from infra.deploy.model import (
    LATEST,
    UNRESOLVED,
    Binding,
    CustomRole,
    FieldOverride,
    Function,
    Production,
    SchedulerJob,
    ServiceAccount,
)
from infra.topology import Subscription, Topology

GCLOUD = "gcloud"
RUNTIME = "python312"
MANAGED_LABEL = "managed-by=aiexec"
_ORDER = {"ASCENDING": "asc", "DESCENDING": "desc"}
_ENV_DELIMITERS = ("|", "@", "#", "~", ";")  # gcloud's `^D^` escaping for commas in values


@dataclass(frozen=True)
class Command:
    """A `gcloud` command; `unless` (a check that succeeds: nothing to do) and `only_if`
    (a check whose output must contain a text) make it idempotent."""

    argv: tuple[str, ...]
    unless: tuple[str, ...] | None = None
    only_if: tuple[tuple[str, ...], str] | None = None


@dataclass(frozen=True)
class Call:
    """A Google Cloud client library call (or a local build step) on `payload`; `shown` are
    the gcloud commands it amounts to when it changes something (printed by the dry run)."""

    library: str
    operation: str
    payload: Any
    shown: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class Step:
    phase: str
    text: str
    action: Command | Call


def _gcloud(*args: str, project: str) -> tuple[str, ...]:
    return (GCLOUD, *args, f"--project={project}", "--quiet")


def _service_accounts(
    prod: Production,
    accounts: tuple[ServiceAccount, ...] | None = None,
    phase: str = "service accounts",
) -> list[Step]:
    project = prod.target.project
    return [
        Step(
            phase,
            f"{sa.email}: {sa.purpose}",
            Command(
                _gcloud(
                    "iam",
                    "service-accounts",
                    "create",
                    sa.account_id,
                    f"--display-name=aiexec: {sa.purpose}",
                    project=project,
                ),
                unless=_gcloud("iam", "service-accounts", "describe", sa.email, project=project),
            ),
        )
        for sa in (prod.service_accounts if accounts is None else accounts)
    ]


def _binding_command(binding: Binding, prod: Production) -> Command:
    project, region = prod.target.project, prod.target.region
    grant = (f"--member={binding.member}", f"--role={binding.role}", "--format=none")
    argv: tuple[str, ...]
    if binding.kind == "project":
        from shared.deploy.gcp import project_binding_args

        return Command(_gcloud(*project_binding_args(project, binding), project=project))
    if binding.kind == "bucket":
        argv = ("storage", "buckets", "add-iam-policy-binding", f"gs://{binding.resource}", *grant)
        return Command(_gcloud(*argv, project=project))
    if binding.kind == "secret":
        return Command(
            _gcloud("secrets", "add-iam-policy-binding", binding.resource, *grant, project=project)
        )
    if binding.kind == "service-account":
        argv = ("iam", "service-accounts", "add-iam-policy-binding", binding.resource, *grant)
        return Command(_gcloud(*argv, project=project))
    if binding.kind == "function" and binding.role == "roles/run.invoker":
        argv = (
            "functions",
            "add-invoker-policy-binding",
            binding.resource,
            f"--region={region}",
            f"--member={binding.member}",
        )
        return Command(_gcloud(*argv, project=project))
    raise ValueError(f"no command grants {binding}")


def describe_binding(b: Binding) -> str:
    """One line per binding, and its condition (if any) on the next."""
    text = f"{b.kind} {b.resource}: {b.role} → {b.member}  ({b.why})"
    if b.condition is not None:
        text += f"\n  only if [{b.condition.title}]: {b.condition.expression}"
    return text


def _binding_step(prod: Production, phase: str, b: Binding) -> Step:
    """Project grants read the policy first (a Call): that is what lets the deployer's
    conditional Project IAM Admin replace an older unconditional grant of the same role."""
    if b.kind == "project":
        shown = (_binding_command(b, prod).argv,)
        return Step(phase, describe_binding(b), Call(GCLOUD, "project-binding", b, shown))
    return Step(phase, describe_binding(b), _binding_command(b, prod))


def _binding_steps(
    prod: Production,
    phase: str,
    kinds: tuple[str, ...],
    *,
    roles: tuple[str, ...] | None = None,
    exclude: tuple[str, ...] = (),
    bindings: tuple[Binding, ...] | None = None,
) -> list[Step]:
    return [
        _binding_step(prod, phase, b)
        for b in (prod.bindings if bindings is None else bindings)
        if b.kind in kinds and (roles is None or b.role in roles) and b.role not in exclude
    ]


# --- the bootstrap ------------------------------------------------------------------------

BOOTSTRAP = "bootstrap"


def _apis(prod: Production, boot: Bootstrap) -> Step:
    names = tuple(api.name for api in boot.apis)
    text = "\n".join(
        [f"{len(names)} APIs, each enabled when disabled:"]
        + [f"  {api.name}: {api.why}" for api in boot.apis]
    )
    enable = _gcloud("services", "enable", *names, project=prod.target.project)
    return Step(f"{BOOTSTRAP}: APIs", text, Call(GCLOUD, "apis", names, shown=(enable,)))


def _database(prod: Production, boot: Bootstrap) -> Step:
    from shared.deploy.gcp import database_create_args

    db = boot.database
    text = (
        f"Firestore database {db.name}: native mode, in {db.location} (created when missing; "
        "one in Datastore mode is refused)"
    )
    create = _gcloud(*database_create_args(db), project=prod.target.project)
    return Step(f"{BOOTSTRAP}: Firestore database", text, Call(GCLOUD, "database", db, (create,)))


def _version(prod: Production, name: str) -> str:
    versions = {s.version for fn in prod.functions for s in fn.secrets if s.name == name}
    shown = sorted(v if v != LATEST else UNRESOLVED for v in versions)
    return ", ".join(f"{name}:{v}" for v in shown)


def _secret_steps(prod: Production, boot: Bootstrap) -> list[Step]:
    project, phase = prod.target.project, f"{BOOTSTRAP}: secrets"
    steps = []
    for req in boot.required_secrets:
        text = (
            f"{req.name} → {req.env} of {', '.join(req.functions)}: must exist, mounted as "
            f"{_version(prod, req.name)}; missing: the deploy refuses, naming "
            f"`{req.create_command(project)}`"
        )
        steps.append(Step(phase, text, Call(GCLOUD, "secret-required", req)))
    for gen in boot.generated_secrets:
        text = (
            f"{gen.name} → {gen.env} of {', '.join(gen.functions)}: generated when missing "
            f"({gen.random_bytes} random bytes, secrets.token_urlsafe), never regenerated; "
            f"mounted as {_version(prod, gen.name)}"
        )
        create = _gcloud(
            "secrets", "create", gen.name, "--replication-policy=automatic", "--data-file=-",
            project=project,
        )  # fmt: skip
        steps.append(Step(phase, text, Call(GCLOUD, "secret-generated", gen, (create,))))
    if not steps:
        steps.append(Step(phase, "none mounted", Call(GCLOUD, "no-secrets", None)))
    return steps


def _custom_roles(prod: Production, roles: tuple[CustomRole, ...]) -> list[Step]:
    from shared.deploy.gcp import custom_role_args

    project = prod.target.project
    return [
        Step(
            f"{BOOTSTRAP}: custom roles",
            f"{role.name(project)}: {', '.join(role.permissions)} (created, or brought back to "
            "exactly these permissions)",
            Call(GCLOUD, "custom-role", role, (_gcloud(*custom_role_args(role), project=project),)),
        )
        for role in roles
    ]


def _revocations(prod: Production, boot: Bootstrap, phase: str) -> list[Step]:
    project = prod.target.project
    steps = []
    for b in boot.revoked:
        argv = _gcloud("projects", "remove-iam-policy-binding", project, f"--member={b.member}",
                       f"--role={b.role}", "--all", "--format=none", project=project)  # fmt: skip
        text = f"project {project}: {b.role} ✗ {b.member}  (revoked when held: {b.why})"
        steps.append(Step(phase, text, Call(GCLOUD, "project-revoke", b, (argv,))))
    return steps


def _source_bucket(prod: Production, boot: Bootstrap, phase: str) -> Step:
    from shared.deploy.gcp import bucket_create_args

    bucket = boot.source_bucket
    text = (
        f"gs://{bucket.name}: the build source `gcloud builds submit` uploads (created when "
        "missing, where gcloud would create it)"
    )
    create = _gcloud(*bucket_create_args(bucket), project=prod.target.project)
    return Step(phase, text, Call(GCLOUD, "bucket", bucket, (create,)))


def bootstrap_steps(prod: Production) -> list[Step]:
    """What a project owner applies (`--bootstrap-only`), checked and created where missing:
    APIs, the Firestore database, secrets, the custom role, the build identities and their
    roles, the runtime identities, who may act as them, and who may read which secret."""
    boot = prod.bootstrap
    build = f"{BOOTSTRAP}: build service accounts"
    runtime = f"{BOOTSTRAP}: runtime service accounts"
    return [
        _apis(prod, boot),
        _database(prod, boot),
        *_secret_steps(prod, boot),
        *_custom_roles(prod, boot.custom_roles),
        *_service_accounts(prod, boot.accounts, build),
        *_binding_steps(prod, build, ("project",), bindings=boot.bindings),
        *_revocations(prod, boot, build),
        _source_bucket(prod, boot, build),
        *_binding_steps(prod, build, ("bucket", "service-account"), bindings=boot.bindings),
        *_service_accounts(prod, phase=runtime),
        *_binding_steps(prod, runtime, ("service-account",)),
        *_binding_steps(prod, f"{BOOTSTRAP}: secret access", ("secret",)),
    ]


def _pubsub_iam(prod: Production) -> list[Step]:
    """One policy update per (resource, role): the members it must hold."""
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for b in prod.bindings:
        if b.kind in ("topic", "subscription"):
            grouped.setdefault((b.kind, b.resource, b.role), []).append(b.member)
    return [
        Step(
            "pub/sub IAM",
            f"{kind} {resource}: {role} → {', '.join(members)}",
            Call("google-cloud-pubsub", "iam", (kind, resource, role, tuple(members))),
        )
        for (kind, resource, role), members in grouped.items()
    ]


def describe_subscription(sub: Subscription) -> str:
    parts = [f"subscription {sub.name}: {sub.topic} →"]
    parts.append(f"push {sub.push_endpoint}" if sub.push_endpoint else "pull")
    if sub.push_service_account:
        parts.append(f"(OIDC {sub.push_service_account})")
    parts.append(f"ack {sub.ack_deadline_s} s")
    if sub.expiration_ttl_days is None:
        parts.append("never expires")
    else:
        parts.append(f"expires after {sub.expiration_ttl_days} days idle")
    if sub.min_backoff_s is not None:
        parts.append(f"retry {sub.min_backoff_s}-{sub.max_backoff_s} s")
    if sub.dead_letter_topic:
        parts.append(f"dead letter {sub.dead_letter_topic} after {sub.max_delivery_attempts}")
    return " ".join(parts)


def _topology(topology: Topology) -> list[Step]:
    lines = [f"topic {t.name}" for t in topology.topics]
    lines += [describe_subscription(s) for s in topology.subscriptions]
    return [
        Step(
            "pub/sub topology",
            "\n".join(lines),
            Call("google-cloud-pubsub", "topology", topology),
        )
    ]


def _firestore(prod: Production) -> list[Step]:
    steps = []
    for index in prod.indexes:
        fields = ", ".join(f"{path} {_ORDER[order]}" for path, order in index.fields)
        steps.append(
            Step(
                "firestore",
                f"composite index {index.collection} ({fields})",
                Call("google-cloud-firestore", "index", index),
            )
        )
    for override in prod.field_overrides:
        steps.append(
            Step(
                "firestore",
                _describe_override(override),
                Call("google-cloud-firestore", "field", override),
            )
        )
    return steps


def _describe_override(override: FieldOverride) -> str:
    what = "TTL policy (documents expire at its time)" if override.ttl else "not indexed"
    return f"field {override.collection}.{override.field}: {what}"


def _bundles(prod: Production) -> list[Step]:
    lock = bundles.load_lock()
    steps = []
    for bundle in bundles.bundles(prod.settings):
        pinned = len(bundles.closure(lock, bundle.requirements))
        text = (
            f"{bundles.BUILD_DIR / bundle.name}: {bundle.entry} as main.py + shared/ + "
            f"requirements.txt ({', '.join(bundle.requirements)}; {pinned} pinned from uv.lock)"
        )
        steps.append(Step("source bundles", text, Call("local", "bundle", bundle)))
    return steps


def env_flag(env: tuple[tuple[str, str], ...]) -> str:
    """`--set-env-vars`, escaped with gcloud's `^D^` syntax when a value holds a comma."""
    pairs = [f"{k}={v}" for k, v in env]
    if not any("," in p for p in pairs):
        return "--set-env-vars=" + ",".join(pairs)
    delimiter = next(d for d in _ENV_DELIMITERS if not any(d in p for p in pairs))
    return f"--set-env-vars=^{delimiter}^" + delimiter.join(pairs)


def deploy_command(fn: Function, prod: Production) -> tuple[str, ...]:
    auth = "--allow-unauthenticated" if fn.public else "--no-allow-unauthenticated"
    secrets = (
        f"--set-secrets={','.join(s.flag_value() for s in fn.secrets)}"
        if fn.secrets
        else "--clear-secrets"  # a secret removed from settings leaves the function
    )
    return _gcloud(
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


def _functions(prod: Production) -> list[Step]:
    steps = []
    for fn in prod.functions:
        who = "public (API keys)" if fn.public else "IAM only"
        fed = f"pushed by {fn.push_subscription}" if fn.push_subscription else "HTTP"
        text = f"{fn.name} ({fed}; {who}; runs as {fn.service_account})"
        steps.append(Step("functions", text, Command(deploy_command(fn, prod))))
    return steps


def _revoke_public(prod: Production) -> list[Step]:
    """A function that must not be public loses `allUsers` if an older deploy (API keys on)
    or a console click granted it: every deploy converges to the definition."""
    project, region = prod.target.project, prod.target.region
    steps = []
    for fn in prod.functions:
        if fn.public:
            continue
        policy = _gcloud(
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
                Command(_gcloud(*argv, project=project), only_if=(policy, "allUsers")),
            )
        )
    return steps


def _scheduler(jobs: tuple[SchedulerJob, ...]) -> list[Step]:
    return [
        Step(
            "scheduler",
            f"job {job.name}: cron {job.schedule!r} ({job.time_zone}) → topic {job.topic}, "
            f"data {job.data}",
            Call("google-cloud-scheduler", "job", job),
        )
        for job in jobs
    ]


def build_plan(prod: Production) -> list[Step]:
    """Every step after the bootstrap, in the order `aiexec deploy` runs them."""
    return [
        *_binding_steps(prod, "project roles", ("project",)),
        *_firestore(prod),
        *_topology(prod.topology),
        *_pubsub_iam(prod),
        *_bundles(prod),
        *_functions(prod),
        *_binding_steps(prod, "invokers", ("function",)),
        *_revoke_public(prod),
        *_scheduler(prod.jobs),
    ]


def _wrapped(argv: tuple[str, ...], width: int = 96) -> list[str]:
    """A long command as shell continuation lines, flags packed up to `width` characters."""
    if len(shlex.join(argv)) <= width:
        return [shlex.join(argv)]
    first = next(i for i, arg in enumerate(argv) if arg.startswith("--"))
    if len(shlex.join(argv[:first])) > width:  # many positional arguments: pack them too
        first = min(first, 3)
    lines = [shlex.join(argv[:first])]
    current = ""
    for arg in (shlex.quote(a) for a in argv[first:]):
        if current and len(current) + 1 + len(arg) > width:
            lines.append(current)
            current = arg
        else:
            current = f"{current} {arg}".strip()
    lines.append(current)
    return [line + " \\" for line in lines[:-1]] + [lines[-1]]


def render_command(command: Command) -> list[str]:
    head, *rest = _wrapped(command.argv)
    lines = [f"$ {head}", *(f"      {line}" for line in rest)]
    if command.unless:
        lines.append(f"  (skipped when this succeeds: {shlex.join(command.unless)})")
    if command.only_if:
        check, text = command.only_if
        lines.append(f"  (only when the output of {shlex.join(check)} contains {text!r})")
    return lines


def full_plan(prod: Production) -> list[Step]:
    """The bootstrap, then the deployment: what `--dry-run` prints."""
    return [*bootstrap_steps(prod), *build_plan(prod)]


def render(prod: Production, steps: list[Step], refusals: tuple[str, ...] = ()) -> str:
    """The plan as text: the `--dry-run` output."""
    target, chain = prod.target, prod.settings.providers
    keys = "required (public ingest)" if prod.settings.api_keys_required else "off (IAM only)"
    out = [
        f"aiexec deploy plan: project {target.project} (number {target.number}), "
        f"region {target.region}",
        f"provider chain: {' → '.join([*chain, prod.settings.topic_dead])}",
        f"API keys: {keys}",
        "bootstrap: applied by a project owner (`aiexec deploy --bootstrap-only`); a deploy "
        "checks it and refuses, naming that command, when something is missing",
        *(f"WARNING (a real deploy refuses it unless --force): {w}" for w in prod.warnings),
        *(
            f"REFUSED (a real deploy stops here unless --force): {r}"
            for r in refusals
            if r not in prod.warnings
        ),
    ]
    phase = None
    for step in steps:
        if step.phase != phase:
            phase = step.phase
            how = step.action.library if isinstance(step.action, Call) else GCLOUD
            out += ["", f"## {phase} [{how}]"]
        text_lines = step.text.splitlines()
        out += [f"- {text_lines[0]}", *(f"- {line}" for line in text_lines[1:])]
        if isinstance(step.action, Command):
            out += [f"  {line}" for line in render_command(step.action)]
        elif step.action.shown:
            for argv in step.action.shown:
                out += [f"  {line}" for line in render_command(Command(argv))]
    return "\n".join(out) + "\n"
