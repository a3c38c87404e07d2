"""This replica's copy of the registry: tenant keys, snapshots, and the follower keeping them in step."""
