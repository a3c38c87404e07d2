"""The test harness: real services, gateways in and out of process, and what tests share."""
