"""Acceptance tests of issue 3 (guest tokens) over HTTP against running gateways."""
