"""Webhooks: audit events pushed to tenants' own endpoints, signed, retried, and never to internal hosts."""
