"""The database: engine and sessions, the request's session, migrations, work started after commit."""
