"""The management REST API (/api/v1), the permission matrix on both protocols, the token
flow end to end, the OpenAPI document and listing speed, against a live server."""
