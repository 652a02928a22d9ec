"""Reads: every query shape (joins and prefetches included) lives here."""
