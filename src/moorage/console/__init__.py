"""The web console: static pages and ES modules that talk only to the REST API."""
