"""The `ews` command and what it starts: gunicorn, the supervisor of `ews run`, embedded Redis, mail sink."""
