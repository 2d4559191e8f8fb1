"""Front door over HTTP: the FastAPI app (REST API under ``/api/v1``; the dashboard comes next)."""
