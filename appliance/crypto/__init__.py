"""Cryptography: key hierarchy, encrypted fields and files, passwords, TOTP."""
