"""A local WedoCOD-compatible Leads API server for trying and testing the importer."""

from importer.sandbox.app import Sandbox, create_app
from importer.sandbox.config import SandboxConfig
from importer.sandbox.rules import validate_create
from importer.sandbox.server import RunningSandbox, serve, serve_in_thread

__all__ = [
    "RunningSandbox",
    "Sandbox",
    "SandboxConfig",
    "create_app",
    "serve",
    "serve_in_thread",
    "validate_create",
]
