"""The audit trail: appending to and verifying the hash chains, queries over the events, the export."""
