"""The consumer label: signed label data (JSON, Ed25519) rendered as SVG, PNG and PDF."""
