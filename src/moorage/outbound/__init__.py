"""Talking to the outside world: adapters for the domain's outbound ports."""
