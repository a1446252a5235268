"""Documents the appliance renders for people to read (PDF exports for the competent authority)."""
