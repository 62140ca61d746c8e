"""Library services: ``build`` assembles a library from the serving versions; ``records`` reads it."""
