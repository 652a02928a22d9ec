"""Server-rendered pages for agents and supervisors (Django templates)."""
