"""Identity: users, projects and roles, access keys, the rules tokens follow."""
