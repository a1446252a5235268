"""Insider lists (MAR Art. 18): sections, versioned insiders, templates as data, exports."""
