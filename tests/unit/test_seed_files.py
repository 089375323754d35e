"""One dispatch for a node's seed files: `seedbed render` previews what the web serves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from seedbed import seeds
from seedbed.checks import PREVIEW_TOKEN
from seedbed.cli import main
from seedbed.cluster.sshkey import ensure_service_key
from seedbed.web.seeds import SEED_FILES
from support import seed_token

MAC1 = "52:54:00:00:00:01"


@pytest.mark.parametrize("name", seeds.SEED_FILES)
def test_the_preview_is_what_the_node_is_served(name: str, client, service, tmp_path: Path,  # noqa: ANN001
                                                capsys: pytest.CaptureFixture[str]) -> None:
    key = ensure_service_key(tmp_path / "state")  # as `seedbed serve` makes it: in user-data
    token = seed_token(client.get(f"/ipxe?mac={MAC1}&buildarch=x86_64&platform=efi").text)
    served = client.get(f"/seed/{token}/{name}")
    assert served.status_code == 200, served.text
    assert (key.public in served.text) is (name == "user-data")
    kind = "provision" if name == "provision.sh" else name
    # The service's own inventory and state (make_service): the same admin key, the same seed.
    assert main(["render", kind, "--mac", MAC1, "--inventory", str(tmp_path / "lab.yaml"),
                 "--state", str(tmp_path / "state")]) == 0
    preview = capsys.readouterr().out.replace(PREVIEW_TOKEN, token)
    if name == "meta-data":  # the instance-id names the install; a preview has none
        preview = preview.replace("seedbed-gpu01-0", "seedbed-gpu01-1")
    # Each load hashes the inventory's plain password with a new salt.
    assert _salted(preview) == _salted(served.text)


def _salted(text: str) -> str:
    return re.sub(r"\$6\$[^\s\n]+", "$6$(salted)", text)


def test_the_web_serves_the_seed_files_and_the_deploy_plan() -> None:
    assert (*seeds.SEED_FILES, "deploy.json") == SEED_FILES
    with pytest.raises(ValueError, match="no seed file 'deploy.json'"):
        seeds.seed_file("deploy.json", None, None, None, method="autoinstall",  # type: ignore[arg-type]
                        install_id=0, service_key=None)
