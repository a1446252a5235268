"""The appliance's domain core: settings, storage, cryptography and services.

Nothing in this package imports Flask; the web layer lives in ``webapp``.
"""
