"""The on-prem R1 engine (see README)."""
