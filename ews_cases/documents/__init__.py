"""Documents the programme issues (the certificate PDF)."""
