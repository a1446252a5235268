"""Documents the appliance renders for people outside it (PDF tables for authorities and analysts)."""
