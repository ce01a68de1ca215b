"""Fixtures of the data tests: the network blocked, with every attempt recorded."""

from __future__ import annotations

import socket
import urllib.request
from urllib.error import URLError

import pytest


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Block sockets and urlopen; return the attempts made (socket args, or the URL opened)."""
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network access is blocked in this test")

    def refuse_url(request: object, *args: object, **kwargs: object) -> None:
        attempts.append(getattr(request, "full_url", request))
        raise URLError("network access is blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse_url)
    return attempts
