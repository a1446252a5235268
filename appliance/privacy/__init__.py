"""Data-subject rights over everything the appliance holds about one person: access (GDPR
Art. 15, the export) and erasure (Art. 17).

Above the domain packages they reach into (persons, users, cases, retention); the composition
root builds them for the web layer and the CLI.
"""
