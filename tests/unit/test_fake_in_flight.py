"""The fakes count an answer as in flight for its client only while the client is
connected: a client that hung up on one answer and sent the next request at once is not
waiting for two, though the fake's thread for the first has not seen the hang-up yet."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from tests.fakes.openai_fake import FakeOpenAI
from tests.fakes.server import FakeHandler, client_left


class _Handler:
    """What the counting looks at: the connection."""

    def __init__(self, connection: socket.socket) -> None:
        self.connection = connection


@contextmanager
def _connection() -> Iterator[tuple[FakeHandler, socket.socket]]:
    server_side, client_side = socket.socketpair()
    try:
        yield cast(FakeHandler, _Handler(server_side)), client_side
    finally:
        server_side.close()
        client_side.close()


def test_a_client_that_hung_up_is_seen_at_once() -> None:
    with _connection() as (handler, client):
        assert not client_left(handler.connection)
        client.sendall(b"GET / HTTP/1.1\r\n\r\n")  # a next request: still there
        assert not client_left(handler.connection)
        client.close()
        assert not client_left(handler.connection)  # its request is still to be read
    with _connection() as (handler, client):
        client.close()
        assert client_left(handler.connection)


def test_answers_to_connected_clients_count_and_one_whose_client_left_does_not() -> None:
    fake: Any = FakeOpenAI()  # never started: only its counting is used
    with _connection() as (first, first_client), _connection() as (second, _):
        with fake._answering(first), fake._answering(second):
            assert fake.in_flight == 2
        assert fake.max_in_flight == 2
        fake.reset_records()
        with fake._answering(first):
            first_client.close()  # hung up; the first answer's thread has not noticed
            with fake._answering(second):
                assert fake.in_flight == 2
        assert fake.max_in_flight == 1
        assert fake.in_flight == 0
