"""The Google Cloud side of `aiexec deploy`: one module per service the deploy changes, through
its client library (Pub/Sub IAM, Cloud Scheduler, Firestore indexes) or through `gcloud` (the
bootstrap: APIs, the Firestore database, secrets, the custom role, the source bucket, and the
project IAM grants, which read the policy before they change it).

Each function reads the current state first and writes only what differs, so a second deploy
reports everything `unchanged` (`outcomes`). Clients and the gcloud runner are parameters, so
tests can hand in fakes.
"""
