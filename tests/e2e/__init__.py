"""End-to-end tests: real registry clients against a live moorage server."""
