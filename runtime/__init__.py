"""Shared runtime of the VBP Monitor services: settings, codec, faust app factory."""
