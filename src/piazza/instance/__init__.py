"""Instance settings, collections and filters, static pages and announcements."""
