"""The scheduler (APScheduler, one active per installation, by lease) and its jobs; the record of
each run is in appliance/job_runs/."""
