"""ActivityPub federation (gancio-federation.md). So far the read-only layer: HTTP signatures, the
instance key pair, discovery, the instance actor and the event and place objects."""
