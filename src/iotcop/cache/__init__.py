"""The content-addressed analysis cache: whole images, check runs (replayed traces) and per-file results."""
