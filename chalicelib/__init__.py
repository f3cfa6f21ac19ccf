"""Parley domain core, shared by the Chalice Lambdas and the streaming container.

Nothing in this package imports Chalice except ``chalicelib.api``.
"""
