"""`piazza import-gancio`: a Gancio instance (database and uploads folder) into Piazza."""
