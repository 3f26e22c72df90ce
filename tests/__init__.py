"""r1gate tests."""
