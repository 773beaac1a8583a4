"""The HTTP API (Falcon ASGI). Imports no ML code: intake stays light."""
