"""Events, places, tags, recurrence, images and feeds: the agenda behind Gancio's event API."""
