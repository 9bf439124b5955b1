"""Signed webhooks: endpoints a user registers, and deliveries the workers send to them."""
