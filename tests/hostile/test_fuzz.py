"""Property-based fuzz of the whole HTTP surface, generated from its own OpenAPI document.

schemathesis reads /api/v1/openapi.json from the app (WSGI, in-process) and generates
valid (positive) and invalid (negative) requests for every operation, admin API included
(with a real bearer token). Half of the requests that take a token, a host name or a MAC
get a live one (a fresh install's token, an inventory node, a discovered machine), so the
fuzz reaches the code behind the 404s. Every answer must not be a 5xx, must have a
documented media type and, where documented, match its schema; invalid requests must be
refused (4xx).

Bounded: FUZZ_EXAMPLES per operation and generation mode, a per-request deadline; the
Hypothesis seed is fixed (SEEDBED_FUZZ_SEED changes it) so a failure reproduces.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from datetime import timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
)

from seedbed.tokens import new_token, token_hash
from seedbed.web import create_app
from seedbed.web.contract import DOCUMENT_PATH
from support import inventory_data, seed_token

FUZZ_EXAMPLES = int(os.environ.get("SEEDBED_FUZZ_EXAMPLES", "80"))
FUZZ_SEED = int(os.environ.get("SEEDBED_FUZZ_SEED", "20261129"))
MIN_REQUESTS = 2000
CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance,
          negative_data_rejection]
NODE_MAC = "52:54:00:00:00:01"
STRANGER_MAC = "aa:bb:cc:00:00:01"


class Live:
    """Real values for path parameters: without them every token route is a 404."""

    def __init__(self, service, client):  # noqa: ANN001
        self.service, self.client = service, client
        client.get(f"/ipxe?mac={STRANGER_MAC}")  # a discovered machine

    def token(self) -> str:
        """A fresh install of gpu01 (re-armed first: the fuzz finishes installs)."""
        self.service.lifecycle.rearm("gpu01", 3600, who="fuzz")
        return seed_token(self.client.get(f"/ipxe?mac={NODE_MAC}").text)

    def fill(self, path_parameters: dict[str, object]) -> None:
        live = {"token": self.token, "hostname": lambda: "gpu01", "mac": lambda: STRANGER_MAC}
        for name in path_parameters:
            if name in live:
                path_parameters[name] = live[name]()


@pytest.fixture
def fuzz_app(make_service):  # noqa: ANN001, ANN201
    service = make_service(inventory_data())
    token = new_token()
    service.store.add_admin_token(token_hash(token), "fuzz")
    app = create_app(service)
    return app, service, {"Authorization": f"Bearer {token}"}


def test_fuzz_every_operation_without_a_server_error(fuzz_app) -> None:  # noqa: ANN001
    app, service, auth = fuzz_app
    live = Live(service, app.test_client())
    schema = schemathesis.openapi.from_wsgi(DOCUMENT_PATH, app)
    # A body over an operation's limit is refused with 413 before it is parsed (declared in
    # the document): that is a rejection of invalid data too.
    rejection = schema.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 21  # every route but the document itself
    statuses: Counter[int] = Counter()
    per_operation: Counter[str] = Counter()
    started = time.monotonic()

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @seed(FUZZ_SEED)
            @settings(max_examples=FUZZ_EXAMPLES, deadline=timedelta(seconds=5), database=None,
                      phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck),
                      print_blob=True)
            @given(case=operation.as_strategy(generation_mode=mode), use_live=st.booleans())
            def run(case, use_live: bool) -> None:  # noqa: ANN001
                if use_live:
                    live.fill(case.path_parameters)
                # A negative case may leave Authorization out on purpose: then so do we.
                headers = {} if case.meta and case.meta.is_negative_at(ParameterLocation.HEADER) else auth
                response = case.call(headers=headers)
                statuses[response.status_code] += 1
                per_operation[case.operation.label] += 1
                case.validate_response(response, checks=CHECKS, headers=headers)

            try:
                run()
            except Unsatisfiable:  # nothing to make invalid: no parameters, no body
                assert mode is GenerationMode.NEGATIVE, operation.label

    took = time.monotonic() - started
    total = sum(statuses.values())
    server_errors = sum(n for code, n in statuses.items() if code >= 500)
    print(f"\nfuzz: {total} requests over {len(operations)} operations in {took:.1f}s; "
          f"statuses {dict(sorted(statuses.items()))}")
    assert server_errors == 0, statuses
    assert total >= MIN_REQUESTS, (total, per_operation)
    assert len(per_operation) == len(operations), per_operation
    assert any(200 <= code < 300 for code in statuses) and statuses[422] and statuses[404]
