"""One module per console area, each with ``routes(console)``."""
