"""seedbed's autoinstall schemas for 22.04 and 24.04, derived from the installers' own.

Upstream's autoinstall-schema.json (at the top of each subiquity tarball in
../shared/installer-sources) with two changes: unknown top-level keys are errors
(the installers ignore them, 24.04 with only a log warning), and `identity` is
required (seedbed always writes it; without it the installer waits for a person).
`python tests/release_schemas.py` rewrites autoinstall/schema-<release>.json;
tests/unit/test_releases.py checks the committed files still equal the derivation.
"""

from __future__ import annotations

import json
import os
import sys
import tarfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

# release -> the subiquity tarball whose schema it follows (see autoinstall/releases.yaml)
UPSTREAM = {"22.04": "subiquity-23.02.1.tar.gz", "24.04": "subiquity-24.04.4.1.tar.gz"}


def sources_dir() -> Path:
    env = os.environ.get("SEEDBED_INSTALLER_SOURCES")
    return Path(env) if env else REPO.parent / "shared" / "installer-sources"


def upstream_schema(tarball: Path) -> dict[str, Any]:
    with tarfile.open(tarball) as tar:
        top = tarball.name.removesuffix(".tar.gz")
        member = tar.extractfile(f"{top}/autoinstall-schema.json")
        assert member is not None, f"{tarball}: no autoinstall-schema.json"
        return json.load(member)


def derive(release: str, upstream: dict[str, Any]) -> dict[str, Any]:
    tarball = UPSTREAM[release]
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": (f"seedbed's check of the Ubuntu {release} autoinstall mapping, derived by "
                     f"tests/release_schemas.py from {tarball}'s autoinstall-schema.json "
                     "(canonical/subiquity, AGPL-3.0): the same, except that unknown top-level "
                     "keys are errors (the installer ignores them) and identity is required."),
        **{k: v for k, v in upstream.items() if k != "$schema"},
    }
    schema["additionalProperties"] = False
    schema["required"] = sorted(set(upstream.get("required", [])) | {"version", "identity"})
    return schema


def target(release: str) -> Path:
    return REPO / "autoinstall" / f"schema-{release}.json"


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=1, sort_keys=False) + "\n"


if __name__ == "__main__":
    for name, tar in UPSTREAM.items():
        target(name).write_text(render(derive(name, upstream_schema(sources_dir() / tar))))
        print(f"wrote {target(name)}", file=sys.stderr)
