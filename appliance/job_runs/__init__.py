"""Job-run bookkeeping: every scheduled run recorded with its outcome, and the scheduler lease.

Kept apart from ``appliance.jobs`` (the scheduler, which calls into everything) so the domain
can read and prune job runs without importing the scheduler.
"""
