"""Tesserra's pure core: domain, ports and use cases (stdlib and msgspec only)."""
