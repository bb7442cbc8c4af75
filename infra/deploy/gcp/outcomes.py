"""What applying a step reports: whether it changed the resource."""

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"
