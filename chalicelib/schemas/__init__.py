"""Pydantic models of every request and response body: validation and the OpenAPI document."""
