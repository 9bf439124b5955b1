"""contentgen: SEO articles written by a crewAI pipeline, with live progress over SSE, WebSocket and HTMX."""

# The one version: the package's metadata, the OpenAPI schema's info.version and /healthz read it.
__version__ = "1.0.0"
