"""Implementations of the core's ports, and the composition root that wires them."""
