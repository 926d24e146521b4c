"""nova-compute's ironic virt driver, as the openstacksdk calls it makes.

The functional and end-to-end tests replay an instance's life the way
nova drives a Bare Metal service, so that what nova depends on — which
request comes when, with which arguments, which answers it treats as
"retry", "already done" or "give up", and what it polls for — is checked
against bootflow rather than assumed.

Matched: nova's ironic driver (``nova/virt/ironic/driver.py`` and
``patcher.py``, openstack/nova at commit ``fded762f4df2``, the Xena (24.x)
code; API defaults from ``nova/conf/ironic.py``). That driver makes its
node reads, list queries and the instance reservation through
openstacksdk and the rest through python-ironicclient pinned to API 1.46
(1.38 before); every call is made here in its openstacksdk form, the one
the driver moved to when it dropped python-ironicclient, with the same
target states, JSON patches and retry choices. This is a re-statement of
behaviour for testing, not nova's code.
"""

import json
import time
from dataclasses import dataclass
from dataclasses import field

import openstack
from openstack import exceptions as sdk_exc

from tests.functional.conftest import wait_for

NOVA_RELEASE = 'Xena (24.x)'
NOVA_COMMIT = 'fded762f4df26ff5706438a66da33ff966f833c6'
# [ironic]api_max_retries / api_retry_interval defaults
API_MAX_RETRIES = 60
API_RETRY_INTERVAL = 2

# What nova asks for in every node read (_NODE_FIELDS).
NODE_FIELDS = ('uuid', 'power_state', 'target_power_state',
               'provision_state', 'target_provision_state', 'last_error',
               'maintenance', 'properties', 'instance_uuid', 'traits',
               'resource_class')
# destroy() unprovisions (target "deleted") from these states only; from
# any other it just removes instance_info and instance_uuid.
UNPROVISION_STATES = ('active', 'deploy failed', 'error', 'wait call-back',
                      'deploying', 'rescue', 'rescuing', 'rescue wait',
                      'rescue failed', 'unrescuing', 'unrescue failed')
# Where destroy() stops waiting: the instance is gone for nova even while
# the node still cleans.
UNPROVISIONED = (None, 'cleaning', 'clean wait', 'clean failed',
                 'available')


class NovaError(Exception):
    """What nova would raise to its compute manager (InstanceDeployFailure,
    InstanceNotFound, InstanceRescueFailure, ...): the tests check the
    message says why."""


@dataclass
class Instance:
    """The few instance and flavor fields the driver sends to the node."""

    uuid: str
    display_name: str
    image: str
    root_gb: int = 10
    swap_mb: int = 0
    ephemeral_gb: int = 0
    vcpus: int = 2
    memory_mb: int = 2048
    host: str = 'nova-compute-1'
    extra_specs: dict = field(default_factory=dict)
    vifs: list = field(default_factory=list)


def connect(endpoint, max_retries=API_MAX_RETRIES,
            retry_interval=API_RETRY_INTERVAL):
    """A connection configured as nova configures its own: 409 (node
    locked) and 503 (no free conductor) retried ``[ironic]api_max_retries``
    times, ``[ironic]api_retry_interval`` seconds apart (ironicclient's
    max_retries/retry_interval; in openstacksdk, the ``[ironic]`` keystoneauth
    adapter options status_code_retries / status_code_retry_delay over the
    baremetal proxy's retriable_status_codes [409, 503])."""
    return openstack.connect(
        auth_type='none', baremetal_endpoint_override=endpoint,
        baremetal_status_code_retries=max_retries,
        baremetal_status_code_retry_delay=retry_interval,
        baremetal_retriable_status_codes=[409, 503],
        load_yaml_config=False, load_envvars=False)


def deploy_patch(node, instance, preserve_ephemeral=None):
    """patcher.GenericDriverFields.get_deploy_patch: what nova writes into
    instance_info before a deploy or a rebuild (all values strings, as
    nova sends them; capabilities JSON-encoded, traits a list)."""
    def add(key, value):
        return {'op': 'add', 'path': '/instance_info/%s' % key,
                'value': value}
    patch = [add('image_source', instance.image),
             add('root_gb', str(instance.root_gb)),
             add('swap_mb', str(instance.swap_mb)),
             add('display_name', instance.display_name),
             add('vcpus', str(instance.vcpus)),
             add('nova_host_id', instance.host),
             add('memory_mb', str(instance.memory_mb)),
             add('local_gb', str((node.properties or {}).get('local_gb',
                                                             0)))]
    if instance.ephemeral_gb:
        patch.append(add('ephemeral_gb', str(instance.ephemeral_gb)))
    if preserve_ephemeral is not None:
        patch.append(add('preserve_ephemeral', str(preserve_ephemeral)))
    capabilities, traits = {}, []
    for key, value in instance.extra_specs.items():
        prefix, _, name = key.partition(':')
        if prefix == 'capabilities':
            capabilities[name] = value
        elif prefix.startswith('trait') and value == 'required':
            traits.append(name)
    if capabilities:
        patch.append(add('capabilities', json.dumps(capabilities)))
    if traits:
        patch.append(add('traits', traits))
    return patch


USER_DATA = b'#cloud-config\n'


def config_drive(instance, links, user_data=USER_DATA, admin_pass=None):
    """A config drive as nova sends it: an ISO 9660 ``config-2`` volume
    (openstack/<version>/meta_data.json, network_data.json, user_data),
    gzipped and base64-encoded — never the dict form API 1.56 added.
    openstacksdk's builder needs genisoimage, mkisofs or xorrisofs; without
    one, bootflow's own ISO writer makes the same volume."""
    from openstack.baremetal import configdrive as sdk_configdrive
    meta = {'uuid': instance.uuid, 'name': instance.display_name,
            'hostname': instance.display_name, 'launch_index': 0,
            'availability_zone': 'nova', 'public_keys': {}, 'meta': {},
            'files': []}
    if admin_pass:
        meta['admin_pass'] = admin_pass
    network = {'links': [{'id': 'tap%s' % vif[:11], 'vif_id': vif,
                          'type': 'phy', 'ethernet_mac_address': mac,
                          'mtu': 1500} for vif, mac in sorted(links.items())],
               'networks': [], 'services': []}
    try:
        return sdk_configdrive.build(meta, user_data=user_data,
                                     network_data=network)
    except RuntimeError:
        import base64
        import gzip
        from bootflow.images import configdrive as bf_configdrive
        iso = bf_configdrive.build_iso({'meta_data': meta,
                                        'user_data': user_data.decode(),
                                        'network_data': network})
        return base64.b64encode(gzip.compress(iso)).decode()


class NovaDriver:
    """One nova-compute's ironic driver: each public method is a driver
    entry point (spawn, reboot, destroy, ...) making the requests nova
    makes, in its order, and deciding on the answers as nova does.
    ``seen`` keeps the provision states its waits polled through."""

    def __init__(self, conn, poll_interval=0.2, timeout=60):
        self.bm = conn.baremetal
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.seen = []

    # -- reads ---------------------------------------------------------------

    def get_node(self, node_id):
        return self.bm.get_node(node_id, fields=NODE_FIELDS)

    def node_of(self, instance):
        """_validate_instance_and_node: the node by its instance_uuid."""
        nodes = list(self.bm.nodes(instance_id=instance.uuid,
                                   fields=NODE_FIELDS))
        if not nodes:
            raise NovaError('InstanceNotFound: %s' % instance.uuid)
        if len(nodes) > 1:
            raise NovaError('more than one node has instance %s'
                            % instance.uuid)
        return nodes[0]

    def node_cache(self):
        """_refresh_cache: every node, nova's fields only."""
        return {n.id: n for n in self.bm.nodes(fields=NODE_FIELDS)}

    def list_instance_uuids(self):
        return [n.instance_id for n in self.bm.nodes(
            associated=True, fields=['instance_uuid'])]

    @staticmethod
    def offers(node):
        """What the resource tracker reports as free: no instance, not in
        maintenance, a known power state, provision state available."""
        return (node.instance_id is None and not node.is_maintenance
                and node.power_state not in (None, 'error')
                and node.provision_state == 'available')

    # -- spawn ---------------------------------------------------------------

    def prepare_for_spawn(self, node_id, instance):
        """Reserve the node: instance_uuid set, never retried on 409 (a 409
        means another instance has it)."""
        node = self.get_node(node_id)
        try:
            self.bm.update_node(node, retry_on_conflict=False,
                                instance_id=instance.uuid)
        except sdk_exc.SDKException as exc:
            raise NovaError('InstanceDeployFailure: Failed to reserve node '
                            '%s for instance %s: %s'
                            % (node_id, instance.uuid, exc))

    def plug_vifs(self, node_id, instance):
        """prepare_networks_before_block_device_mapping: one attach per
        VIF, not retried; a 409 reads as "already attached"."""
        node = self.get_node(node_id)
        for vif in instance.vifs:
            try:
                self.bm.attach_vif_to_node(node, vif,
                                           retry_on_conflict=False)
            except sdk_exc.ConflictException:
                continue
            except sdk_exc.BadRequestException as exc:
                raise NovaError('VirtualInterfacePlugException: %s' % exc)

    def spawn(self, node_id, instance, admin_pass=None, user_data=None):
        node = self.get_node(node_id)
        self._add_instance_info(node, instance)
        checks = self.bm.validate_node(node_id, required=None)
        failed = {k: checks[k].reason for k in ('deploy', 'power', 'storage')
                  if not checks[k].result}
        if failed:
            self._cleanup_deploy(node, instance)
            raise NovaError('ValidationError: node %s failed to validate: '
                            '%s' % (node_id, failed))
        drive = config_drive(instance, self.network_metadata(node_id),
                             user_data=user_data or USER_DATA,
                             admin_pass=admin_pass)
        try:
            self.bm.set_node_provision_state(node_id, 'active',
                                             config_drive=drive)
        except sdk_exc.SDKException as exc:
            self._cleanup_deploy(node, instance)
            raise NovaError('Failed to request Ironic to provision '
                            'instance %s: %s' % (instance.uuid, exc))
        return self._wait(instance, 'become ACTIVE', _active)

    def _add_instance_info(self, node, instance, preserve_ephemeral=None):
        try:
            self.bm.patch_node(node, deploy_patch(node, instance,
                                                  preserve_ephemeral),
                               retry_on_conflict=False)
        except sdk_exc.BadRequestException as exc:
            raise NovaError('InstanceDeployFailure: Failed to add deploy '
                            'parameters on node %s: %s' % (node.id, exc))

    def network_metadata(self, node_id):
        """For network_data.json: {VIF: MAC of the port (or portgroup) it
        is bound to}, read as nova reads it."""
        links = {}
        for lister in (self.bm.ports, self.bm.port_groups):
            for obj in lister(node=node_id, details=True):
                vif = ((obj.internal_info or {}).get('tenant_vif_port_id')
                       or (obj.extra or {}).get('vif_port_id'))
                if vif:
                    links[vif] = obj.address
        return links

    # -- power ---------------------------------------------------------------

    def reboot(self, instance, soft=False):
        """SOFT asks for 'soft rebooting' and falls back to a hard reboot
        on 400 (the driver cannot); returns which one it did."""
        node = self.node_of(instance)
        hard = True
        if soft:
            try:
                self.bm.set_node_power_state(node.id, 'soft rebooting')
                hard = False
            except sdk_exc.BadRequestException:
                pass
        if hard:
            self.bm.set_node_power_state(node.id, 'rebooting')
        self._wait(instance, 'reboot', _power_settled)
        return 'HARD' if hard else 'SOFT'

    def power_off(self, instance, timeout=0):
        """With a timeout, a soft power off (API 1.27's timeout in the
        body) first; if the node is not off after it, a hard one."""
        node = self.node_of(instance)
        if timeout:
            try:
                sdk_exc.raise_from_response(self.bm.put(
                    '/nodes/%s/states/power' % node.id,
                    json={'target': 'soft power off', 'timeout': timeout},
                    microversion='1.27'))
                if self._wait(instance, 'soft power off', _power_settled
                              ).power_state == 'power off':
                    return 'SOFT'
            except sdk_exc.SDKException:
                pass
        self.bm.set_node_power_state(node.id, 'power off')
        self._wait(instance, 'power off', _power_settled)
        return 'HARD'

    def power_on(self, instance):
        node = self.node_of(instance)
        self.bm.set_node_power_state(node.id, 'power on')
        self._wait(instance, 'power on', _power_settled)

    # -- rebuild, rescue -----------------------------------------------------

    def rebuild(self, node_id, instance, preserve_ephemeral=False,
                admin_pass=None):
        """New instance_info (the instance_uuid stays), a new config drive,
        target 'rebuild', then the same wait as spawn."""
        node = self.get_node(node_id)
        self._add_instance_info(node, instance, preserve_ephemeral)
        drive = config_drive(instance, self.network_metadata(node_id),
                             admin_pass=admin_pass)
        try:
            self.bm.set_node_provision_state(node_id, 'rebuild',
                                             config_drive=drive)
        except (sdk_exc.BadRequestException,
                sdk_exc.HttpException) as exc:
            raise NovaError('InstanceDeployFailure: Failed to request '
                            'Ironic to rebuild instance %s: %s'
                            % (instance.uuid, exc))
        return self._wait(instance, 'rebuild', _active)

    def rescue(self, instance, password):
        try:
            self.bm.set_node_provision_state(
                self.node_of(instance).id, 'rescue',
                rescue_password=password)
        except sdk_exc.SDKException as exc:
            raise NovaError('InstanceRescueFailure: %s' % exc)
        return self._wait(instance, 'rescue', _state_or_fail(
            'rescue', 'rescue failed', 'InstanceRescueFailure'))

    def unrescue(self, instance):
        try:
            self.bm.set_node_provision_state(self.node_of(instance).id,
                                             'unrescue')
        except sdk_exc.SDKException as exc:
            raise NovaError('InstanceUnRescueFailure: %s' % exc)
        return self._wait(instance, 'unrescue', _state_or_fail(
            'active', 'unrescue failed', 'InstanceUnRescueFailure'))

    # -- destroy -----------------------------------------------------------

    def destroy(self, instance):
        """Unprovision (target 'deleted') when there is something to
        undeploy, else just drop instance_info and instance_uuid; in both
        cases then detach the VIFs and delete volume targets. Returns the
        node as nova last saw it."""
        try:
            node = self.node_of(instance)
        except NovaError:
            return None
        try:
            if node.provision_state in UNPROVISION_STATES:
                self.bm.set_node_provision_state(node.id, 'deleted')
                last = self._wait(instance, 'unprovision', _unprovisioned,
                                  missing_ok=True)
            else:
                self._remove_instance_info(node)
                last = None
        finally:
            self._cleanup_deploy(node, instance, remove_instance_info=False)
        return last

    def failed_spawn_cleanup(self, instance):
        try:
            node = self.node_of(instance)
        except NovaError:
            return
        self._cleanup_deploy(node, instance)

    def _remove_instance_info(self, node):
        try:
            self.bm.patch_node(node, [
                {'op': 'remove', 'path': '/instance_info'},
                {'op': 'remove', 'path': '/instance_uuid'}])
        except sdk_exc.BadRequestException:
            pass    # nova only logs a warning

    def _cleanup_deploy(self, node, instance, remove_instance_info=True):
        for target in self.bm.volume_targets(node=node.id):
            self.bm.delete_volume_target(target, ignore_missing=True)
        for vif in instance.vifs:
            try:
                self.bm.detach_vif_from_node(node.id, vif)
            except sdk_exc.BadRequestException:
                pass    # "isn't attached"
        if remove_instance_info:
            self._remove_instance_info(node)

    # -- waiting -------------------------------------------------------------

    def _wait(self, instance, what, decide, missing_ok=False):
        """nova's FixedIntervalLoopingCall around the instance's node:
        ``decide(node)`` returns None to poll on, 'done', or why it fails."""
        def step():
            nodes = list(self.bm.nodes(instance_id=instance.uuid,
                                       fields=NODE_FIELDS))
            node = nodes[0] if nodes else None
            self.seen.append(node.provision_state if node else 'gone')
            if node is None:
                return ('done' if missing_ok else
                        'InstanceNotFound: no node has instance %s'
                        % instance.uuid), None
            verdict = decide(node)
            return verdict and (verdict, node)
        started = time.monotonic()
        verdict, node = wait_for(step, timeout=self.timeout,
                                 interval=self.poll_interval,
                                 message='nova waiting for the node to %s'
                                         % what)
        if verdict != 'done':
            raise NovaError('%s (after %.1fs)'
                            % (verdict, time.monotonic() - started))
        return node


def _active(node):
    if node.provision_state == 'active':
        return 'done'
    if node.target_provision_state in ('deleted', 'available'):
        return 'InstanceNotFound: ironic is deleting the instance'
    if node.provision_state in (None, 'available'):
        return 'InstanceNotFound: ironic already deleted the instance'
    if node.provision_state == 'deploy failed':
        return 'InstanceDeployFailure: %s' % node.last_error
    return None


def _power_settled(node):
    return 'done' if node.target_power_state is None else None


def _unprovisioned(node):
    return 'done' if node.provision_state in UNPROVISIONED else None


def _state_or_fail(state, failed, error):
    def decide(node):
        if node.provision_state == state:
            return 'done'
        if node.provision_state == failed:
            return '%s: %s' % (error, node.last_error)
        return None
    return decide
