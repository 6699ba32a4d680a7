"""Identity: users, projects and roles, access keys, the rules tokens follow.

Surface offered to other capabilities: `ports`, `errors`, `access` (actions and roles).
"""
