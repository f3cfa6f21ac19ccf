"""Transports own wire formats: they turn a carrier's messages into pipeline input and back."""
