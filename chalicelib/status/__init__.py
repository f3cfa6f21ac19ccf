"""The public service status (``docs`` in the README's "Service status"): monitors that check Parley's parts
for real (``monitors``), the scheduled probe that runs them and records one beat per monitor (``probe``), the
beats' storage and uptime math (``beats``) and the public heartbeat answer built from them (``page``)."""
