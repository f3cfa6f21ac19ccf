"""Parley's streaming service: carrier media streams in, a voice agent out (runs on ECS Fargate)."""
