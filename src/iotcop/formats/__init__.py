"""Readers for firmware formats: SquashFS 1.x-4.x, legacy uImage, FIT, TRX and vendor containers.

Each reader checks every offset and length against the input and bounds
its output, so a malformed image fails with a clear error instead of a hang.
"""
