"""Metrics and logs, for every layer."""
