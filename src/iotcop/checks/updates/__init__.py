"""Update mechanism, update integrity and secure boot checks (EN 303 645 5.3, 5.7)."""
