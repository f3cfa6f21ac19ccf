"""Live monitoring from the streaming service: each held call's events (``call_feed``), their delivery to
the watchers (``publisher``), and the task's own link to the monitoring API (``task_link``) that brings
watcher changes and supervisor controls (docs/monitoring.md)."""
