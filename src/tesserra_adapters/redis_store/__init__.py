"""Redis adapters: rate limits shared by every worker and host, at a round trip per hit."""
