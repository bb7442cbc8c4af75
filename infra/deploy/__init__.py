"""The production extension of the topology: what `aiexec deploy` creates in a project.

`build_production(settings, Target(project, region))` derives, from the same settings as the
local stack, the topology with production push authentication and retry, one service account
per function, least-privilege IAM bindings, the functions' deploy parameters, Cloud Scheduler
jobs and Firestore indexes. `infra/deploy` turns it into an ordered plan and applies it.
"""

from infra.deploy.definition import build_production, production_topology, scheduler_jobs
from infra.deploy.model import Binding, Function, Production, SchedulerJob, Target

__all__ = [
    "Binding",
    "Function",
    "Production",
    "SchedulerJob",
    "Target",
    "build_production",
    "production_topology",
    "scheduler_jobs",
]
