"""The REST API: Chalice blueprints, one per resource. The only place that imports Chalice."""
