"""EWS Cases: case management for the Entwicklungswerkstatt für kommunale Engagementstrategien (NRW).

The app factory is `ews_cases.app.create_app`. Importing the package imports nothing else, so the command
line can prepare the environment (e.g. the metrics folder shared by forked processes) before the app loads.
"""

import warnings

# pyHanko (the certificate seal) imports cryptography's DSA types at import time, and cryptography warns about
# DSA on that import; EWS never signs with DSA. Without this filter every `ews` command that loads the
# certificate services prints the warning on stderr, where scripts read the command's answer.
warnings.filterwarnings("ignore", message="DSA is deprecated")
