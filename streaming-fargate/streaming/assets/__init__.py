"""Audio the streaming service ships (background tracks), with the scripts that make them."""
