"""One module per protocol; each `probe(ctx, port)` returns a ServiceResult."""
