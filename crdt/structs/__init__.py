"""Structs: what a document's list of operations is made of (items, GC and skip ranges, contents)."""
