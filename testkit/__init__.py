"""What the tests and the benchmarks both use (never part of the service): factories that arrange data
through the real services, and `ews` commands as child processes."""
