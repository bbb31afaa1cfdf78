"""Scanning many images: a local process pool or Celery workers, a resumable journal, a content-keyed
cache, summaries and version diffs."""
