import base64

import bcrypt
import pytest

from bootflow.api import auth
from bootflow.api import wsgi
from bootflow.common import exception


@pytest.fixture
def htpasswd(tmp_path):
    path = tmp_path / 'htpasswd'
    hashed = bcrypt.hashpw(b's3cret', bcrypt.gensalt(rounds=4)).decode()
    # htpasswd -B writes $2y$; bcrypt accepts both spellings
    path.write_text('# users\nadmin:%s\n' % hashed.replace('$2b$', '$2y$'))
    return path


def _request(path='/v1/nodes', user=None, password=None):
    req = wsgi.Request.blank(path)
    req.context = type('Ctx', (), {'user_id': None})()
    if user is not None:
        token = base64.b64encode(('%s:%s' % (user, password)).encode())
        req.headers['Authorization'] = 'Basic ' + token.decode()
    return req


def test_valid_user_is_accepted(htpasswd):
    check = auth.HtpasswdAuth(str(htpasswd))
    req = _request(user='admin', password='s3cret')
    check(req)
    assert req.context.user_id == 'admin'


@pytest.mark.parametrize('user,password', [
    ('admin', 'wrong'), ('nobody', 's3cret'), (None, None)])
def test_bad_credentials_get_401(htpasswd, user, password):
    check = auth.HtpasswdAuth(str(htpasswd))
    with pytest.raises(exception.NotAuthenticated):
        check(_request(user=user, password=password))


def test_version_discovery_stays_open(htpasswd):
    auth.HtpasswdAuth(str(htpasswd))(_request('/'))
    auth.HtpasswdAuth(str(htpasswd))(_request('/v1'))


def test_file_changes_are_picked_up(htpasswd, tmp_path):
    check = auth.HtpasswdAuth(str(htpasswd))
    check(_request(user='admin', password='s3cret'))
    hashed = bcrypt.hashpw(b'new', bcrypt.gensalt(rounds=4)).decode()
    htpasswd.write_text('admin:%s\n' % hashed)
    import os
    os.utime(htpasswd, (1, 1))
    with pytest.raises(exception.NotAuthenticated):
        check(_request(user='admin', password='s3cret'))
    check(_request(user='admin', password='new'))
