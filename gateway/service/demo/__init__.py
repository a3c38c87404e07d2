"""The demo: its data set, its tenants in the registry, and a host site that embeds them."""
