"""Recall channels, one file each, registered by name (see services/recall/registry.py)."""
