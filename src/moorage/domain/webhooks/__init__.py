"""Webhooks: subscriptions, the events they are sent, durable deliveries.

Surface offered to other capabilities: `ports`, `errors`, `events` (recording an event with
its deliveries in the caller's transaction), `payloads` (event types).
"""
