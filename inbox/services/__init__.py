"""Writes. Keyword-only, typed, organization first; side effects only after commit."""
