"""Fixtures for the fault and hostile-input suite (issue 6)."""
