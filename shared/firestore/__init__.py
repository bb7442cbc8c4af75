"""The data layer: the only code in `shared/` that speaks to Firestore.

- `client.py`: the Firestore client, built once per process (counted for `aiexec bench`);
- `conditional.py`: writes conditioned on what was read, and the one loop that reads, decides,
  writes with a precondition and decides again when the write lost a race;
- one repository per collection, owning its document paths, reads and writes: `tasks/`
  (`tasks`, with the `usage` documents and rollups that ride in its commits), `usage.py`,
  `rollups.py`, `circuits.py`, `budgets.py` (`budgets`, `budget_reservations`),
  `ratelimits.py`, `keys.py` (`api_keys`), `reports.py`.

Services (ingest, worker, finalizer, sweeper, report, the circuit breaker, budgets, the rate
limiter, API keys) decide; repositories read and write. tests/unit/test_data_layer.py holds the
line: no other module imports Firestore, and only `conditional.py` catches a lost race.
"""
