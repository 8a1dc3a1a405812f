"""Shared types: Text, Array, Map (and the XML types, kept for wire compatibility)."""
