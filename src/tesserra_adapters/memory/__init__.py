"""In-memory adapters for every port, shipped for tests and library users."""
