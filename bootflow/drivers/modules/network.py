"""Network interfaces: ``noop`` and ``flat`` only keep the books of which
port carries which VIF; ``neutron`` also tells the networking service.

``neutron`` works as Ironic's ``flat`` interface does with Neutron: one
flat network for provisioning and tenants, so what changes between
phases is only whose the port is. A VIF must exist in Neutron to be
attached (GET /v2.0/ports/{id}); when the node starts deploying each
attached VIF is bound to it (PUT /v2.0/ports/{id}: ``binding:host_id``
the node's UUID, ``binding:vnic_type`` baremetal, ``mac_address`` that
of the node's port carrying it), so Neutron wires the port and answers
the node's DHCP; on undeploy, or when a VIF is detached, the binding is
removed again. Requests go through the ``[neutron]`` keystoneauth1
adapter (``bootflow.common.keystone``).

Deploy interfaces call :func:`on_deploy` and :func:`on_tear_down`;
interfaces without the hooks (``noop``, ``flat``) are skipped.
"""

from oslo_log import log

from bootflow.common import exception
from bootflow.common import keystone
from bootflow.common import states
from bootflow.drivers.interfaces import network

LOG = log.getLogger(__name__)

GROUP = 'neutron'
VNIC_TYPE = 'baremetal'
# Where a node's VIFs are bound: a VIF attached in one of these is
# bound at once rather than at the next deploy.
_BOUND_STATES = (states.ACTIVE, states.DEPLOYWAIT, states.DEPLOYING)


def on_deploy(task):
    """The node starts deploying: the network interface prepares it."""
    hook = getattr(task.driver.network, 'add_provisioning_network', None)
    if hook is not None:
        hook(task)


def on_tear_down(task):
    """The node's instance goes away: its tenant ports are released."""
    hook = getattr(task.driver.network, 'unconfigure_tenant_networks', None)
    if hook is not None:
        hook(task)


class NoopNetwork(network.NetworkInterface):
    """VIF bookkeeping only; no switch is touched."""


class FlatNetwork(network.NetworkInterface):
    """One flat provisioning/tenant network: the node's ports are used as
    they are cabled; nothing to reconfigure between phases."""


def _port_path(vif_id):
    return '/v2.0/ports/%s' % vif_id


def _fault(resp):
    """Neutron's own words for a refusal, for the node's last_error."""
    try:
        body = resp.json()
        return (body.get('NeutronError') or {}).get('message') or str(body)
    except (ValueError, AttributeError):
        return (resp.text or '')[:200]


def _check_exists(vif_id):
    resp = keystone.request(GROUP, 'GET', _port_path(vif_id))
    if resp.status_code == 404:
        raise exception.InvalidParameterValue(
            err='VIF %s does not exist in the networking service'
                % vif_id)
    if resp.status_code != 200:
        raise exception.DriverOperationError(
            err='The networking service answered HTTP %d to GET of port '
                '%s: %s' % (resp.status_code, vif_id, _fault(resp)))


def _update(vif_id, attrs, what, missing_ok=False):
    resp = keystone.request(GROUP, 'PUT', _port_path(vif_id),
                            json={'port': attrs})
    if resp.status_code == 404 and missing_ok:
        LOG.info('VIF %s is gone from the networking service; nothing to '
                 '%s', vif_id, what)
        return
    if resp.status_code != 200:
        raise exception.DriverOperationError(
            err='Could not %s VIF %s: the networking service answered '
                'HTTP %d: %s' % (what, vif_id, resp.status_code,
                                 _fault(resp)))


def _bind(node, vif_id, address):
    attrs = {'binding:host_id': node.uuid, 'binding:vnic_type': VNIC_TYPE}
    if address:
        attrs['mac_address'] = address
    _update(vif_id, attrs, 'bind')
    LOG.info('VIF %s bound to node %s (%s)', vif_id, node.uuid, address)


def _unbind(vif_id):
    _update(vif_id, {'binding:host_id': '', 'binding:profile': {}},
            'unbind', missing_ok=True)


class NeutronNetwork(network.NetworkInterface):
    """VIFs are Neutron ports, checked when attached and bound to the
    node while it is deployed."""

    def get_properties(self):
        return {}

    def validate(self, task):
        if not keystone.is_configured(GROUP):
            raise keystone.not_configured(GROUP, 'The neutron network '
                                                 'interface')

    def _carriers(self, task):
        """``(vif, mac)`` of every VIF on the node's ports and
        portgroups."""
        found = []
        for obj in task.ports + network._portgroups(task.node.id):
            vif = network._vif(obj)
            if vif:
                found.append((vif, obj.get('address')))
        return found

    def vif_attach(self, task, vif_info):
        self.validate(task)
        vif_id = vif_info['id']
        _check_exists(vif_id)
        super().vif_attach(task, vif_info)
        if task.node.provision_state in _BOUND_STATES:
            for vif, address in self._carriers(task):
                if vif == vif_id:
                    _bind(task.node, vif, address)

    def vif_detach(self, task, vif_id):
        """Unbound first, so a failure leaves the VIF recorded and the
        detach can be retried; only a VIF of this node is touched."""
        if any(vif == vif_id for vif, _ in self._carriers(task)):
            self.validate(task)
            _unbind(vif_id)
        super().vif_detach(task, vif_id)

    def add_provisioning_network(self, task):
        """Flat: the tenant ports are the provisioning ports, bound for
        the whole deploy (as Ironic's flat interface binds them)."""
        for vif, address in self._carriers(task):
            _bind(task.node, vif, address)

    def unconfigure_tenant_networks(self, task):
        for vif, _ in self._carriers(task):
            _unbind(vif)
