"""The web face of LDN-KG: the app factory, its routes and the waitress server."""
