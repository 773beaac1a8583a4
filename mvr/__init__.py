"""MVR, the Minimum Viable Router: support tickets in over HTTP, routed and scored, most urgent first."""
