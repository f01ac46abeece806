"""Small reusable widgets (overlay canvas, bar chart, collapsible sections, attribute sliders, thumbnails)."""
