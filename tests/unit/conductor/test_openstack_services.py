"""The ``neutron`` network interface through the conductor manager, with
fake Keystone and Neutron on 127.0.0.1 and real keystoneauth1: a VIF must
exist to be attached; it is bound to the node while the node is deployed
and unbound when the node is undeployed or the VIF detached."""

import pytest
from keystoneauth1 import loading

from bootflow.common import exception
from bootflow.common import keystone
from bootflow.common import states
from bootflow.db import api as db_api
from tests.functional import openstack_fakes as fakes
from tests.unit.common.helpers import plugin_options_removed
from tests.unit.conductor.helpers import make_node
from tests.unit.conductor.helpers import wait_for
from tests.unit.conductor.helpers import wait_state
from tests.unit.conductor.test_direct_deploy import _info
from tests.unit.conductor.test_direct_deploy import images  # noqa: F401

MAC = '52:54:00:12:34:56'


@pytest.fixture
def enabled(conf):
    """Before ``service``: the conductor reads the enabled interfaces
    when it starts."""
    keystone.reset()
    conf.set_override('enabled_network_interfaces',
                      ['noop', 'flat', 'neutron'])


@pytest.fixture
def cloud(conf, enabled):
    ks = fakes.Keystone()
    neutron = fakes.Neutron(keystone=ks)
    ks.register('network', 'neutron', neutron.url)
    with plugin_options_removed(conf):
        conf.register_opts(loading.get_auth_plugin_conf_options('password'),
                           group='neutron')
        for name, value in fakes.password_auth(ks).items():
            conf.set_override(name, value, 'neutron')
        yield ks, neutron
        keystone.reset()
    neutron.stop()
    ks.stop()


def _node(state=states.AVAILABLE, mac=MAC, **values):
    node = make_node(network_interface='neutron', provision_state=state,
                     power_state=states.POWER_OFF, **values)
    port = db_api.create_port({'node_id': node['id'], 'address': mac})
    return node, port


def _vif(port_id):
    return (db_api.get_port(port_id)['internal_info'] or {}).get(
        'tenant_vif_port_id')


def test_missing_vif_is_refused_and_nothing_stored(cloud, service):
    _, neutron = cloud
    node, port = _node()
    with pytest.raises(exception.InvalidParameterValue) as info:
        service.manager.vif_attach(None, node['id'], {'id': 'no-such-port'})
    assert info.value.code == 400
    assert 'does not exist' in str(info.value)
    assert _vif(port['id']) is None
    assert not neutron.updates('no-such-port')


def test_existing_vif_is_attached_with_a_token(cloud, service):
    ks, neutron = cloud
    vif = neutron.add_port()
    node, port = _node()
    service.manager.vif_attach(None, node['id'], {'id': vif})
    assert _vif(port['id']) == vif
    assert neutron.requests[-1]['token'] in ks.issued
    # an available node's VIF is bound only when it deploys
    assert not neutron.updates(vif)
    assert service.manager.vif_list(None, node['id']) == [{'id': vif}]


def test_deploy_binds_and_undeploy_unbinds(cloud, service, images):  # noqa
    _, neutron = cloud
    vif = neutron.add_port()
    node, _ = _node(deploy_interface='direct', instance_info=_info(images))
    service.manager.vif_attach(None, node['id'], {'id': vif})
    service.manager.do_provisioning_action(None, node['id'], 'active')
    wait_state(node['id'], states.DEPLOYWAIT)
    assert neutron.updates(vif) == [{
        'binding:host_id': node['uuid'], 'binding:vnic_type': 'baremetal',
        'mac_address': MAC}]
    assert neutron.ports[vif]['binding:host_id'] == node['uuid']

    active, _ = _node(state=states.ACTIVE, deploy_interface='direct',
                      instance_info=_info(images), mac=MAC[:-1] + '7')
    other = neutron.add_port()
    service.manager.vif_attach(None, active['id'], {'id': other})
    assert neutron.ports[other]['binding:host_id'] == active['uuid']
    service.manager.do_provisioning_action(None, active['id'], 'deleted')
    wait_for(lambda: neutron.ports[other]['binding:host_id'] == '')
    assert neutron.updates(other)[-1] == {'binding:host_id': '',
                                          'binding:profile': {}}


def test_detach_unbinds_only_an_attached_vif(cloud, service):
    _, neutron = cloud
    vif = neutron.add_port()
    node, port = _node(state=states.ACTIVE)
    service.manager.vif_attach(None, node['id'], {'id': vif})
    service.manager.vif_detach(None, node['id'], vif)
    assert _vif(port['id']) is None
    assert neutron.updates(vif)[-1]['binding:host_id'] == ''
    with pytest.raises(exception.VifNotAttached):
        service.manager.vif_detach(None, node['id'], vif)
    assert len(neutron.updates(vif)) == 2


def test_vif_gone_from_neutron_still_detaches(cloud, service):
    _, neutron = cloud
    vif = neutron.add_port()
    node, port = _node()
    service.manager.vif_attach(None, node['id'], {'id': vif})
    del neutron.ports[vif]
    service.manager.vif_detach(None, node['id'], vif)
    assert _vif(port['id']) is None


def test_unconfigured_neutron_is_refused(enabled, service):
    node, port = _node()
    with pytest.raises(exception.InvalidParameterValue,
                       match=r'\[neutron\]auth_type'):
        service.manager.vif_attach(None, node['id'], {'id': 'x'})
    assert _vif(port['id']) is None
    with pytest.raises(exception.InvalidParameterValue,
                       match=r'\[neutron\] is not configured'):
        service.manager.do_provisioning_action(None, node['id'], 'active')


# -- validation of an image service image_source (no call is made) --------

GLANCE_IMAGE = '4a3c2b1d-0e9f-4a8b-9c7d-6e5f4a3b2c1d'


@pytest.mark.parametrize('ref', [GLANCE_IMAGE, 'glance://' + GLANCE_IMAGE])
def test_glance_image_source_needs_glance_configured(service, conf, ref):
    keystone.reset()
    node = make_node(provision_state=states.AVAILABLE,
                     deploy_interface='direct',
                     instance_info={'image_source': ref})
    result = service.manager.validate_driver_interfaces(None, node['id'])
    assert result['deploy']['result'] is False
    assert '[glance] is not configured' in result['deploy']['reason']
    with pytest.raises(exception.InvalidParameterValue) as info:
        service.manager.do_provisioning_action(None, node['id'], 'active')
    assert info.value.code == 400 and ref in str(info.value)
    assert db_api.get_node(node['id'])['provision_state'] == \
        states.AVAILABLE

    # configured: no checksum needed in instance_info (Glance has it)
    conf.set_override('auth_type', 'none', 'glance')
    conf.set_override('endpoint_override', 'http://127.0.0.1:9', 'glance')
    result = service.manager.validate_driver_interfaces(None, node['id'])
    assert result['deploy'] == {'result': True}
    db_api.update_node(node['id'], {'instance_info': {
        'image_source': ref, 'image_download_source': 'direct'}})
    result = service.manager.validate_driver_interfaces(None, node['id'])
    assert 'use "blocks" or "http"' in result['deploy']['reason']
