"""What each deployed function runs: one composition module per function, wiring only what that
function uses (`functions/<name>/main.py` calls its module; report's is shared/reports/service.py).
The Pub/Sub ack policy they share is `pubsub.py`."""
