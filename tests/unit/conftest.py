"""Unit tests run on a real SQLite database in a temp dir and the real
fake-hardware drivers; configuration is reset around every test."""

import pytest

from bootflow.common import driver_factory
from bootflow.conf import CONF
from bootflow.db import engine as db_engine
from bootflow.db import migration


@pytest.fixture(autouse=True)
def conf():
    CONF([], project='bootflow', default_config_files=[])
    yield CONF
    CONF.reset()
    CONF.clear_override('connection', 'database')
    driver_factory.reset()


@pytest.fixture
def db(tmp_path, conf):
    conf.set_override('connection', 'sqlite:///%s' % (tmp_path / 'bf.sqlite'),
                      'database')
    db_engine.dispose()
    migration.upgrade()
    yield
    db_engine.dispose()
