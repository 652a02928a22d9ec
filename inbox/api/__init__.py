"""The REST API (/api/v1/): input serializer → one service or selector → output serializer."""
