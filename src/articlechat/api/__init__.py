"""The HTTP API: REST, Server-Sent Events, an OpenAI-compatible endpoint, admin and operations endpoints."""

from articlechat.api.app import create_app

__all__ = ["create_app"]
