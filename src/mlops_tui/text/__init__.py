"""Text both front ends draw: short human renderings (`humanize`) and what backend text may reach
a terminal (`sanitize`)."""
