"""Infrastructure as code: the Pub/Sub topology derived from settings, and how to apply it."""
