"""The LSP surface: thin async handlers around the pipeline."""
