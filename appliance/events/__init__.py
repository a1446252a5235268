"""Access events uploaded through the API (who opened what, for which deal or matter): the
source of insider-list proposals. The actor is on the person chain; the rest is sealed under
a per-batch data key wrapped under the tenant's key."""
