"""EWS Cases: case management for the Entwicklungswerkstatt für kommunale Engagementstrategien (NRW)."""

from ews_cases.app import create_app

__all__ = ["create_app"]
