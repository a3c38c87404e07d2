"""The event bus: one protocol, in process or on Redis Streams, and consumer groups."""
