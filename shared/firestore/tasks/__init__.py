"""The `tasks` repository: every state change of a task happens here, atomically.

Changes are transactions, or (on the worker's hot path, where round trips are the cost) writes
conditioned on the document's update time, which fail instead of overwriting a concurrent change.

Life of a document: `queued` (ingest) → `running` (a worker holds a lease) → back to `queued` at
the next hop (hand-over) → `succeeded` / `failed`; or `rejected` at ingest. `hop` is the index in
the task's provider `chain` that currently owns it; it lets a worker tell a stale or duplicate
delivery from a live one. Terminal documents are never changed again, except that a `rejected`
one (it never held a task) gives its id to a later submission: a valid one, or a newer rejection.

The `usage` documents (shared/firestore/usage.py) and rollups (shared/firestore/rollups.py)
ride in the same commits; a rollup update can never block a task's change: a commit Firestore
refuses as invalid (a rollup document at its size limit, say) is made again without it,
counting the miss instead.

`TaskStore` is the one object callers use; its writes live by caller:

- creation.py: ingest's (a queued task, a rejection);
- leases.py: a worker's delivery (`begin`, `finish`, `pass_on`);
- recovery.py: the finalizer's, the sweeper's and an operator's;
- commits.py: what they share (the clock, the rollup-fallback commit);
- reads.py: reads.
"""

from __future__ import annotations

from shared.firestore.tasks.creation import IngestWrites
from shared.firestore.tasks.leases import LeaseWrites
from shared.firestore.tasks.recovery import RecoveryWrites


class TaskStore(IngestWrites, LeaseWrites, RecoveryWrites):
    """Reads and writes of `tasks` (and the `usage` documents and rollups riding with them)."""
