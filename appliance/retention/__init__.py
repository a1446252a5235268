"""Retention policies and legal holds, and the deletion of one case (the run is in
appliance/operations/retention_run.py)."""
