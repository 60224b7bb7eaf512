"""The SSH port's asyncssh adapter (asyncssh is imported on first use, not at start-up)."""
