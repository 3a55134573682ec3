"""Background work: the Celery app, its tasks (thin wrappers over services) and the beat schedule."""
