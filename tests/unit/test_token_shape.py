"""The shape check run on every token in a path before the store is asked."""

from __future__ import annotations

from seedbed.tokens import looks_like_token, new_token


def test_issued_tokens_pass_and_other_shapes_do_not() -> None:
    assert all(looks_like_token(new_token()) for _ in range(200))
    token = new_token()
    for other in (token[:-1], token + "A", token[:-1] + "/", token[:-1] + "é", token[:-1] + "\n",
                  token[:-1] + "=", ""):
        assert not looks_like_token(other), repr(other)
