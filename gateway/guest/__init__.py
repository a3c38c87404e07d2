"""The guest of a data request: its verified token (bearer or session) and where it comes from."""
