"""API tokens: bearer credentials of one tenant with scopes, stored only as a keyed hash."""
