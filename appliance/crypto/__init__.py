"""Cryptographic primitives: the master key file, envelopes for fields and files, sealing,
signatures, passwords, TOTP, blind indexes. Pure: imports no domain package (key management
backed by the database is in appliance/keys/).
"""
