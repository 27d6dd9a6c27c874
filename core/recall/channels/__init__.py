"""Recall channels, one file each, registered by name (see core/recall/build.py)."""
