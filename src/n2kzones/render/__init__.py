"""Rendering: interactive maps and the HTML report, from frames the stages read."""
