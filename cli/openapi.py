"""Rewrite the committed OpenAPI document from the code: ``python -m cli.openapi`` (``make openapi``)."""
from __future__ import annotations

from app import app
from chalicelib.api.openapi import DOCUMENT_PATH, render


def main() -> None:
    DOCUMENT_PATH.write_text(render(app))
    print(f"wrote {DOCUMENT_PATH}")


if __name__ == "__main__":
    main()
