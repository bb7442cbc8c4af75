"""The deploy identities and the project roles the docs promise them (and those never granted)."""

from __future__ import annotations

from tests.deploy.conftest import NUMBER, PROJECT

DEPLOYER = f"serviceAccount:aiexec-deployer@{PROJECT}.iam.gserviceaccount.com"
BUILDER = f"serviceAccount:aiexec-builder@{PROJECT}.iam.gserviceaccount.com"
TESTER = f"serviceAccount:aiexec-tester@{PROJECT}.iam.gserviceaccount.com"
INVOKER_ROLE = f"projects/{PROJECT}/roles/aiexecInvokerAdmin"
DATABASE_ONLY = f'resource.name == "projects/{PROJECT}/databases/(default)"'
MODIFIED_GRANTS = "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', [])"
IAM_ADMIN_ONLY = (
    f"{MODIFIED_GRANTS}.hasOnly(['roles/aiplatform.user', 'roles/cloudtrace.agent', "
    "'roles/datastore.user', 'roles/storage.objectViewer'])"
)
# Roles that would work but that the docs make unnecessary (or that are far too broad).
NEVER_GRANTED = {
    "roles/editor",
    "roles/owner",
    "roles/cloudbuild.builds.builder",  # the legacy builder role: run.builder replaces it
    "roles/cloudbuild.builds.editor",
    "roles/storage.admin",
    "roles/storage.objectAdmin",
    "roles/iam.serviceAccountUser",  # never on the project: per account only
    "roles/secretmanager.secretAccessor",  # the deployer mounts secrets, never reads them
    # roles that could grant others anything (or read every secret): gone from the deployer
    "roles/run.admin",
    "roles/iam.serviceAccountAdmin",
    "roles/secretmanager.admin",
    "roles/iam.securityAdmin",
}
# The deployer's project roles and, for the narrowed ones, their condition.
DEPLOYER_GRANTS = {
    "roles/cloudfunctions.developer": None,
    INVOKER_ROLE: None,
    "roles/resourcemanager.projectIamAdmin": IAM_ADMIN_ONLY,
    "roles/pubsub.admin": None,
    "roles/cloudscheduler.admin": None,
    "roles/datastore.indexAdmin": None,
    "roles/logging.configWriter": None,
    "roles/monitoring.alertPolicyEditor": None,
    "roles/monitoring.notificationChannelEditor": None,
    "roles/monitoring.dashboardEditor": None,
    "roles/datastore.viewer": DATABASE_ONLY,
    "roles/secretmanager.viewer": (
        f'resource.name.startsWith("projects/{NUMBER}/secrets/aiexec-") || '
        f'resource.name.startsWith("projects/{PROJECT}/secrets/aiexec-")'
    ),
    "roles/serviceusage.serviceUsageViewer": None,
    "roles/cloudbuild.builds.viewer": None,
    "roles/logging.logWriter": None,
}
