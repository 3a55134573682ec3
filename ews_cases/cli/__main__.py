"""`python -m ews_cases.cli.commands` runs the `ews` command."""

from ews_cases.cli.commands import main

main()
