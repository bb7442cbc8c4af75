"""The plan as text: the `--dry-run` output, every resource, role, condition and command."""

from __future__ import annotations

import shlex

from infra.deploy.gcp.gcloud import GCLOUD
from infra.deploy.model import Production
from infra.deploy.plan.steps import Call, Command, Step


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


def _header(prod: Production, refusals: tuple[str, ...]) -> list[str]:
    target, chain = prod.target, prod.settings.providers
    keys = "required (public ingest)" if prod.settings.api_keys_required else "off (IAM only)"
    return [
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


def render(prod: Production, steps: list[Step], refusals: tuple[str, ...] = ()) -> str:
    """The plan as text: the `--dry-run` output. A secret mounted as `latest` shows
    `<resolved at deploy>`: the real deploy pins the version number current then."""
    out = _header(prod, refusals)
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
