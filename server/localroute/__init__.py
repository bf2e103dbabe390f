"""localroute: a local-first routing language server for AI code review and explanation."""

__version__ = "0.1.0"
