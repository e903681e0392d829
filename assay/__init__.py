"""Assay command-line front end (the `assay` console script)."""
