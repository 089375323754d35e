"""Large boot artifacts (kernels, initrds, images) from the files folder, with Range support."""

from __future__ import annotations

from flask import Blueprint, Response, send_file

from ..errors import NotFound
from ..files_root import artifact_path
from . import seedbed
from .contract import operation
from .models import ErrorAnswer

bp = Blueprint("files", __name__)


@bp.get("/files/<path:name>")
@operation(answers={200: None, 206: None, 304: None, 404: ErrorAnswer, 416: ErrorAnswer},
           media={200: ("*/*",), 206: ("*/*",)}, tags=["machine"])
def artifact(name: str) -> Response:
    """A file from the files folder, with HTTP Range and conditional requests."""
    settings = seedbed().settings
    path = artifact_path(settings.artifacts, settings.state_dir, name)
    if path is None:
        raise NotFound(f"no file {name!r} in the files folder")
    # conditional=True answers Range and If-Modified-Since from the file itself
    # (sendfile through the WSGI server's file wrapper).
    return send_file(path, conditional=True, etag=True, max_age=0)
