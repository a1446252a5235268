"""Host-local, short-lived state keyed by client addresses: throttles and rate limits.

Nothing here ever reaches the database, the person key vault or a backup, so a reporter's
address cannot be recovered from them with any key (see store.py for how the file itself
forgets).
"""
