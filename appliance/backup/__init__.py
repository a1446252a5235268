"""Backups: manifests and catalog, drivers per backend, copies to sites with restic."""
