"""Key management backed by the database: tenant keyrings and case data keys, the secrets that
outlive a master key, the person key vault, and the tables that hold installation-wide keys.

Built on the pure primitives in ``appliance.crypto``; imports no domain package, so every
domain package may use it.
"""
