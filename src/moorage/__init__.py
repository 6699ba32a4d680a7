"""moorage: a self-hosted container registry service."""

__version__ = "0.1.0"
