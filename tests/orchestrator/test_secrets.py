"""The one masking rule: credentials out of URLs, messages and log records."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from orchestrator.secrets import mask_logging, mask_text, mask_url, url_secrets


@pytest.mark.parametrize("url, masked", [
    ("redis://:s3cret@127.0.0.1:6390/0", "redis://:***@127.0.0.1:6390/0"),
    ("postgresql+psycopg://farm:s3cret@db:5432/farm", "postgresql+psycopg://farm:***@db:5432/farm"),
    # special characters, escaped or not: the password runs to the last "@"
    ("postgresql+psycopg://farm:p%40ss%2Fw0rd@db/farm", "postgresql+psycopg://farm:***@db/farm"),
    ("redis://user:p@ss/w#rd;x:y@h:6379/0", "redis://user:***@h:6379/0"),
    ("redis://:@h/0", "redis://:***@h/0"),
    # a user alone is no secret
    ("postgresql+psycopg://farm@db/farm", "postgresql+psycopg://farm@db/farm"),
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    # query parameters named as secrets, whatever their case; the others are kept
    ("postgresql+psycopg://farm@db/farm?password=s3cret&sslmode=require",
     "postgresql+psycopg://farm@db/farm?password=***&sslmode=require"),
    ("https://chat.googleapis.com/v1/spaces/AAAA/messages?Key=AIza&TOKEN=abc%3D",
     "https://chat.googleapis.com/v1/spaces/AAAA/messages?Key=***&TOKEN=***"),
    ("https://x.logic.azure.com/workflows/w/triggers?api-version=1&sp=run&sig=AbC",
     "https://x.logic.azure.com/workflows/w/triggers?api-version=1&sp=run&sig=***"),
    ("https://h/x?client_secret=a&access_token=b&passwd=c",
     "https://h/x?client_secret=***&access_token=***&passwd=***"),
    # webhook paths
    ("https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX",
     "https://hooks.slack.com/services/***"),
    ("https://discord.com/api/webhooks/123456789012345678/abcDEF-ghi_jkl123",
     "https://discord.com/api/webhooks/***"),
    ("https://chat.example/hooks/perf", "https://chat.example/hooks/***"),
    ("https://org.webhook.office.com/webhookb2/a1@b2/IncomingWebhook/c3/d4",
     "https://org.webhook.office.com/webhookb2/***"),
    ("https://api.telegram.org/bot123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11/sendMessage",
     "https://api.telegram.org/***/sendMessage"),
    # paths of files and databases are kept, ":" and "@" and "hooks" and all
    ("sqlite:////home/me/.farm/farm.db", "sqlite:////home/me/.farm/farm.db"),
    ("sqlite:////tmp/a:b@c/hooks/x/farm_2024_0123456789abcdef.db",
     "sqlite:////tmp/a:b@c/hooks/x/farm_2024_0123456789abcdef.db"),
    ("postgresql+psycopg://farm@db/farm_0123456789abcdef0123",
     "postgresql+psycopg://farm@db/farm_0123456789abcdef0123"),
    # kombu's failover list: each URL
    ("sentinel://:pw1@h1:26379;sentinel://:pw2@h2:26379",
     "sentinel://:***@h1:26379;sentinel://:***@h2:26379"),
    # no URL, or one that does not parse: never an error, the password still masked
    ("", ""),
    ("plain text, no URL", "plain text, no URL"),
    ("postgresql+psycopg//farm:s3cret@127.0.0.1:6391/farm",
     "postgresql+psycopg//farm:***@127.0.0.1:6391/farm"),
    ("redis://:s3cret@[::1/0", "redis://:***@[::1/0"),
])
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_url_secrets_are_as_written_and_decoded() -> None:
    assert url_secrets("postgresql+psycopg://farm:p%40ss@db/farm?token=t%3Dx") == (
        "p%40ss", "p@ss", "t%3Dx", "t=x")
    assert url_secrets("postgresql+psycopg://farm@db/farm") == ()
    assert url_secrets(None) == ()


def test_mask_text_masks_urls_inside_and_plain_secrets() -> None:
    url = "redis://:s3cret%21@h:6390/0"
    text = f"cannot reach the broker '{url}' (AUTH s3cret! refused); see https://x/hooks/abc1"
    assert mask_text(text, url_secrets(url)) == (
        "cannot reach the broker 'redis://:***@h:6390/0' (AUTH *** refused); see https://x/hooks/***")
    # the punctuation after a URL is the message's, not the URL's
    assert mask_text(f"cannot open {url}: refused; or ({url}).", ()) == (
        "cannot open redis://:***@h:6390/0: refused; or (redis://:***@h:6390/0).")
    assert mask_text("see https://h/x?token=abc: refused") == "see https://h/x?token=***: refused"
    # a short secret would garble the message and protects nothing: not looked for as text
    assert mask_text("a b c", ["b"]) == "a b c"
    assert mask_text("no secrets here") == "no secrets here"


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    saved = logging.getLogRecordFactory()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("tests.secrets")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logging.setLogRecordFactory(saved)


def test_mask_logging_masks_messages_arguments_and_tracebacks(log_stream: io.StringIO) -> None:
    url = "redis://:s3cret@127.0.0.1:6390/0"
    mask_logging(url_secrets(url))
    mask_logging(url_secrets(url))  # twice: one masking, not two stacked
    log = logging.getLogger("tests.secrets")
    log.warning("the broker %s does not answer", url)
    log.warning("plain %d", 3)
    try:
        raise ValueError("password s3cret rejected")
    except ValueError:
        log.exception("failed")
    written = log_stream.getvalue()
    assert "s3cret" not in written
    assert "the broker redis://:***@127.0.0.1:6390/0 does not answer" in written
    assert "plain 3" in written and "ValueError: password *** rejected" in written
    factory = logging.getLogRecordFactory()
    assert not isinstance(getattr(factory, "base", None), type(factory))
