"""ActivityPub federation (gancio-federation.md). Only the tables exist so far; the import fills them."""
