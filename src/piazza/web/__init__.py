"""Server-rendered pages: login, logout and the OAuth consent page (rules live in the services)."""
