"""Renderers of an Analysis: rich text, JSON and plots."""
