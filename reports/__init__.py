"""HTML reports rendered with Jinja2 from plain data (never from live objects of other layers)."""
