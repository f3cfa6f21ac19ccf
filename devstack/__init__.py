"""The local stack: embedded AWS (moto server), the Chalice app, and (later) the workers and simulators."""
