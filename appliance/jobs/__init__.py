"""The scheduler (APScheduler, one active per installation) and the job-run record."""
