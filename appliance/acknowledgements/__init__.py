"""Single-use, expiring links by which a person confirms having read a notice of their legal
duties and the sanctions (MAR Art. 19(5) for PDMRs; Art. 18(2) for insiders, next)."""
