"""The edge: the one middleware every request passes, and the routing in front of the app."""
