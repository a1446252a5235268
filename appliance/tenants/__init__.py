"""Tenants (the organisations one installation serves) and their report categories."""
