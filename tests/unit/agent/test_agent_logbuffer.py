"""The in-memory log: bounded, secrets masked, shipped best effort."""

import io
import logging

import pytest

from bootflow.agent import logbuffer


@pytest.fixture
def logger():
    log = logging.getLogger('bootflow.agent.test_logbuffer')
    log.setLevel(logging.DEBUG)
    log.propagate = False
    yield log
    for handler in list(log.handlers):
        log.removeHandler(handler)


def test_only_the_last_lines_are_kept(logger):
    buffer = logbuffer.RingBufferHandler(max_lines=3)
    logger.addHandler(buffer)
    for n in range(5):
        logger.info('line %d', n)
    lines = buffer.text().splitlines()
    assert lines[0] == '[2 earlier lines dropped]'
    assert [line.rsplit(': ', 1)[1] for line in lines[1:]] == [
        'line 2', 'line 3', 'line 4']


def test_the_byte_budget_holds_too(logger):
    buffer = logbuffer.RingBufferHandler(max_lines=1000, max_bytes=200)
    buffer.setFormatter(logging.Formatter('%(message)s'))
    logger.addHandler(buffer)
    for n in range(50):
        logger.info('%02d %s', n, 'x' * 30)
    logger.info('y' * 500)
    text = buffer.text()
    assert text.endswith('y' * 199 + '\n')
    assert 'x' not in text


def test_tracebacks_are_kept_line_by_line(logger):
    buffer = logbuffer.RingBufferHandler()
    logger.addHandler(buffer)
    try:
        raise ValueError('boom')
    except ValueError:
        logger.exception('failed')
    assert 'Traceback (most recent call last):' in buffer.text()
    assert 'ValueError: boom' in buffer.text()


def test_secrets_are_masked_everywhere(logger):
    buffer = logbuffer.RingBufferHandler()
    logger.addHandler(buffer)
    logbuffer.add_secret('s3cr3t-token-value')
    logger.warning('got s3cr3t-token-value back')
    assert 's3cr3t' not in buffer.text()
    assert 'got *** back' in buffer.text()


class _Client:
    def __init__(self, token='t', error=None):
        self.token = token
        self.error = error
        self.uploads = []

    def upload_log(self, reason, text):
        if self.error:
            raise self.error
        self.uploads.append((reason, text))


def test_ship_posts_the_text(logger):
    buffer = logbuffer.RingBufferHandler()
    logger.addHandler(buffer)
    logger.info('hello')
    client = _Client()
    assert buffer.ship(client, 'why') is True
    (reason, text), = client.uploads
    assert reason == 'why' and 'hello' in text


def test_ship_never_raises():
    buffer = logbuffer.RingBufferHandler()
    assert buffer.ship(_Client(error=RuntimeError('API down')), 'x') is False
    assert buffer.ship(_Client(token=None), 'x') is False
    assert buffer.ship(None, 'x') is False


def test_setup_logs_to_the_console_and_the_buffer_once():
    root = logging.getLogger()
    level = root.level
    stream = io.StringIO()
    try:
        logbuffer.setup('INFO', stream=stream)
        buffer = logbuffer.setup('INFO', stream=stream)
        logging.getLogger('bootflow.agent.x').info('to the serial console')
        logging.getLogger('bootflow.agent.x').debug('buffer only')
        assert stream.getvalue().count('to the serial console') == 1
        assert 'buffer only' not in stream.getvalue()
        assert buffer.text().count('to the serial console') == 1
        assert 'buffer only' in buffer.text()
        assert logbuffer.installed_buffer() is buffer
        client = _Client()
        assert logbuffer.ship(client, 'module level') is True
    finally:
        logbuffer.reset()
        root.setLevel(level)
    assert logbuffer.installed_buffer() is None
