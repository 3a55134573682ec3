"""Email: the outbox written in the transaction, its delivery, calendar attachments and the letters."""
