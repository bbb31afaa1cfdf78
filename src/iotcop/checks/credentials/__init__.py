"""Checks on accounts and passwords shipped in the image (EN 303 645 5.1)."""
