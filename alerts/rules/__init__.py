"""The rules: each a small function over a record and a little state, returning findings."""
