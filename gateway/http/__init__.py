"""The shared HTTP kit: API errors, JSON bodies, request headers, origins, rate limits."""
