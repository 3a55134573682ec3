"""Small input checks shared by services."""

from __future__ import annotations

import re

#: Deliberately simple: one @, a dot in the domain, no spaces. Deliverability is the mail server's business.
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
