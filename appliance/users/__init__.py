"""Staff accounts: sign-in with password and TOTP, sessions, throttles, key pairs, and the
administration rules (no one removes their own access)."""
