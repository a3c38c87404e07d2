"""What host-app backends call: the OAuth token endpoint and the guest-token API."""
