"""Binary and kernel hardening checks (EN 303 645 5.6-8)."""
