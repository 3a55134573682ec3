"""WSGI entry point for gunicorn and other servers: `gunicorn ews_cases.wsgi:app`."""

from ews_cases.app import create_app

app = create_app()
