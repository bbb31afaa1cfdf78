"""The UK PSTI statement of compliance: its content (build.py) and its printable form (render.py)."""
