"""Webhooks: subscriptions, the events they are sent, durable deliveries."""
