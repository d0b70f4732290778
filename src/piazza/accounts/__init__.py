"""People: accounts, passwords, roles, registration and recovery."""
