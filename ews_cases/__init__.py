"""EWS Cases: case management for the Entwicklungswerkstatt für kommunale Engagementstrategien (NRW).

The app factory is `ews_cases.app.create_app`. Importing the package imports nothing else, so the command
line can prepare the environment (e.g. the metrics folder shared by forked processes) before the app loads.
"""
