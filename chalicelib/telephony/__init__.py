"""Telephony: how a dispatched call reaches a carrier."""
