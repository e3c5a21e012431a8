"""Reporting layer: consumes per-item records only (never evidence or parsers)."""
