"""Entities and value objects, one module per bounded area."""
