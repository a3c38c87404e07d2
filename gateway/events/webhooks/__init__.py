"""Webhooks: the audit stream delivered to tenants' endpoints, signed and retried."""
