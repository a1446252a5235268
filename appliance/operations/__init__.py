"""Installation-wide procedures: what touches the tables of every domain at once (key status,
rewrapping data keys in a rotation, replacing the master key, the retention run, backups and
the person key vault's copies).

These sit above the domain and take the composition root (``AppContext``, ``Services``) where
they need it; nothing below imports them, only the CLI, the jobs and the web layer.
"""
