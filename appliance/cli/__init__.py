"""The `appliance` command line (click). Commands stay thin: they call services."""
