"""Tenants' data rights: subject access (export), erasure, the purge of a withdrawn stream's
data, and retention (expiry and downsampling). docs/data-protection.md.

The core of `hof rights`; the admin API calls the same functions. It imports no service.
"""
