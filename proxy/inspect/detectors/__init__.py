"""One module per family of values; each detector reports typed spans, never values."""
