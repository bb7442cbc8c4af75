"""Production deployment: the plan (`aiexec deploy --dry-run`), its application and the
post-deploy smoke test."""
