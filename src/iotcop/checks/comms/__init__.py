"""Checks on how the device communicates: plaintext services, TLS settings and certificates (EN 303 645 5.5)."""
