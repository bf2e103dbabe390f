"""Configuration: the schema (models), where it comes from (sources), locality."""
