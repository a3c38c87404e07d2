"""Embedding: the page a host's iframe shows, its scripts and styles, and the JavaScript SDK hosts load.

Every script and style is served by the gateway itself (no CDN), so the page's Content-Security-Policy
can trust one nonce'd module and nothing else (`gateway.edge.security_headers`).
"""
