"""Infrastructure as code: the Pub/Sub topology derived from settings and how to apply it
(`topology`, `pubsub_apply`), its production extension (`deploy`: identities, IAM, functions,
schedules, Firestore indexes) and the per-function source bundles (`bundles`)."""
