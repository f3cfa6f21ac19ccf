"""Live call monitoring (docs/monitoring.md): who may watch, what they follow, the events, and their delivery
through API Gateway's WebSocket management API."""
