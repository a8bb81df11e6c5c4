"""The VBP Monitor services; each runs with `python -m services.<name>`."""
