"""The logbook: a hash chain of events (who did what to which object, never content), signed
checkpoints, pruning, verification, export and the JSON-lines stream."""
