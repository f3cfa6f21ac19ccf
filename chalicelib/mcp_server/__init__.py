"""Parley's MCP server: the REST API's operations as Model Context Protocol tools and resources.

Two transports serve the same tools (``server.build_server``):

- stateless streamable HTTP at ``/api/v1/mcp`` (``http_app``; in AWS a Lambda, ``aws_lambda.handler``), where
  ``Authorization: Bearer <api key>`` picks the account and the tools call the domain directly;
- stdio (``python -m chalicelib.mcp_server`` with ``PARLEY_API_KEY`` and ``PARLEY_API_URL``), where the tools
  call the REST API over HTTPS, for desktop assistants.
"""
