"""Container-runtime adapters: in memory (tests), local processes (the default) and Docker."""
