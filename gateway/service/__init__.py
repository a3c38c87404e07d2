"""The service: app wiring, serving, command line, probes, OpenAPI, the demo."""
