"""[glance]/[neutron] options and the keystoneauth1 adapter factory,
against the fake Keystone and Glance of tests/functional/openstack_fakes
(real HTTP on 127.0.0.1, real keystoneauth1)."""

import pytest
from keystoneauth1 import adapter as ks_adapter
from keystoneauth1 import loading as ks_loading
from keystoneauth1 import session as ks_session

from bootflow.common import exception
from bootflow.common import keystone
from bootflow.conf import opts
from bootflow.conf import services
from tests.functional import openstack_fakes as fakes
from tests.unit.common.helpers import plugin_options_removed


@pytest.fixture(autouse=True)
def _fresh_adapters(conf):
    keystone.reset()
    with plugin_options_removed(conf):
        yield
    keystone.reset()


@pytest.fixture
def cloud():
    ks = fakes.Keystone()
    glance = fakes.Glance(keystone=ks)
    ks.register('image', 'glance', glance.url)
    yield ks, glance
    glance.stop()
    ks.stop()


def _set(conf, group, **values):
    """Overrides, the plugin's options registered first as keystoneauth1
    will register them (an override needs a registered option)."""
    if values.get('auth_type') in ('password', 'v3password'):
        conf.register_opts(ks_loading.get_auth_plugin_conf_options(
            values['auth_type']), group=group)
    for name, value in values.items():
        conf.set_override(name, value, group)


def test_adapter_defaults_follow_ironic(conf):
    assert conf.glance.service_type == 'image'
    assert conf.neutron.service_type == 'network'
    for group in ('glance', 'neutron'):
        assert conf[group].valid_interfaces == ['internal', 'public']
        assert conf[group].auth_type is None
        assert conf[group].timeout is None
    assert conf.glance.num_retries == 0
    assert conf.neutron.retries == 3
    assert conf.neutron.request_timeout == 45


def test_sample_lists_session_adapter_and_password_options(conf):
    groups = dict(opts.list_opts())
    for group, service_type in (('glance', 'image'),
                                ('neutron', 'network')):
        listed = {o.dest: o for o in groups[group]}
        for name in ('auth_type', 'auth_section', 'auth_url', 'username',
                     'password', 'project_name', 'user_domain_name',
                     'cafile', 'insecure', 'timeout', 'endpoint_override',
                     'region_name', 'connect_retries'):
            assert name in listed, (group, name)
        assert listed['service_type'].default == service_type
        assert listed['valid_interfaces'].default == ['internal', 'public']
        names = [o.dest for o in groups[group]]
        assert names == sorted(names) and len(set(names)) == len(names)
    # the sample's copies leave the registered options alone
    assert conf.glance.service_type == 'image'


def test_unconfigured_group_fails_naming_group_and_options(conf):
    assert not keystone.is_configured('neutron')
    with pytest.raises(exception.InvalidParameterValue) as info:
        keystone.get_adapter('neutron')
    message = str(info.value)
    assert '[neutron]' in message and '[neutron]auth_type' in message
    assert 'endpoint_override' in message
    assert info.value.code == 400


def test_missing_plugin_option_is_named(conf):
    _set(conf, 'glance', auth_type='password')
    assert keystone.is_configured('glance')
    with pytest.raises(exception.InvalidParameterValue) as info:
        keystone.get_adapter('glance')
    assert '[glance]auth_url' in str(info.value)


def test_unknown_plugin_is_refused(conf):
    _set(conf, 'glance', auth_type='no-such-plugin')
    with pytest.raises(exception.InvalidParameterValue,
                       match=r'\[glance\]auth_type'):
        keystone.get_adapter('glance')


def test_auth_section_is_followed(conf):
    conf.register_opts([], group='service_user')
    _set(conf, 'glance', auth_section='service_user')
    assert not keystone.is_configured('glance')
    _set(conf, 'service_user', auth_type='none')
    assert keystone.is_configured('glance')


def test_adapter_is_cached_per_group(conf):
    for group in ('glance', 'neutron'):
        _set(conf, group, auth_type='none',
             endpoint_override='http://127.0.0.1:9')
    first = keystone.get_adapter('glance')
    assert isinstance(first, ks_adapter.Adapter)
    assert isinstance(first.session, ks_session.Session)
    assert keystone.get_adapter('glance') is first
    other = keystone.get_adapter('neutron')
    assert other is not first and other.service_type == 'network'
    keystone.reset()
    assert keystone.get_adapter('glance') is not first


def test_bootflow_retry_and_timeout_options_fill_keystoneauth_gaps(conf):
    _set(conf, 'neutron', auth_type='none',
         endpoint_override='http://127.0.0.1:9', retries=5,
         request_timeout=7)
    adapter = keystone.get_adapter('neutron')
    assert adapter.connect_retries == 5
    assert adapter.status_code_retries == 5
    assert adapter.session.timeout == 7.0
    keystone.reset()
    _set(conf, 'neutron', connect_retries=1, timeout=2.5)
    adapter = keystone.get_adapter('neutron')
    assert adapter.connect_retries == 1 and adapter.session.timeout == 2.5


def test_password_login_uses_token_and_catalog(conf, cloud):
    ks, glance = cloud
    image = glance.add(b'x' * 100)
    _set(conf, 'glance', **fakes.password_auth(ks))
    resp = keystone.request('glance', 'GET', '/v2/images/%s' % image)
    assert resp.status_code == 200 and resp.json()['id'] == image
    token = glance.requests[-1]['token']
    assert token and token in ks.issued
    # a second request reuses the session's token
    keystone.request('glance', 'GET', '/v2/images/%s' % image)
    assert glance.requests[-1]['token'] == token and len(ks.issued) == 1


def test_expired_token_is_renewed_by_keystoneauth(conf, cloud):
    ks, glance = cloud
    image = glance.add(b'y')
    _set(conf, 'glance', **fakes.password_auth(ks))
    keystone.request('glance', 'GET', '/v2/images/%s' % image)
    ks.revoke_all()
    resp = keystone.request('glance', 'GET', '/v2/images/%s' % image)
    assert resp.status_code == 200
    assert [r['token'] in ks.issued for r in glance.requests] == \
        [False, False, True]


def test_wrong_password_is_an_operator_error(conf, cloud):
    ks, _ = cloud
    _set(conf, 'glance', **dict(fakes.password_auth(ks), password='no'))
    with pytest.raises(exception.DriverOperationError,
                       match=r'\[glance\]'):
        keystone.request('glance', 'GET', '/v2/images/x')


def test_endpoint_missing_from_catalog(conf, cloud):
    ks, _ = cloud
    _set(conf, 'neutron', **fakes.password_auth(ks))
    with pytest.raises(exception.DriverOperationError,
                       match=r'network service \(\[neutron\]\)'):
        keystone.request('neutron', 'GET', '/v2.0/ports/x')


def test_unreachable_service_is_temporary(conf):
    _set(conf, 'glance', auth_type='none',
         endpoint_override='http://127.0.0.1:9', connect_retries=0)
    with pytest.raises(exception.TemporaryFailure,
                       match=r'image service \(\[glance\]\) unreachable'):
        keystone.request('glance', 'GET', '/v2/images/x')


def test_services_module_registers_both_groups():
    assert set(services.GROUPS) == {'glance', 'neutron'}
