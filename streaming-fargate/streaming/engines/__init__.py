"""Speech and language engines, one interface per kind (``base``), local and AWS implementations side by side."""
