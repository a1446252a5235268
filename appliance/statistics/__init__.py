"""Statistics for the analyst: counts and times from case metadata only, small cells withheld."""
