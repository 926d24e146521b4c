"""Enrol a lab's machines as redfish nodes, over plain HTTP.

Plain HTTP (``X-OpenStack-Ironic-API-Version``, an optional
``X-Auth-Token``) rather than a client library: it works against any
Ironic-compatible API, bootflow's or the reference one.  Idempotent: a
node that exists under the machine's name is updated where it differs,
and a port is created only for a MAC that has none.
"""

import re

import requests

API_VERSION = 'latest'
HTTP_TIMEOUT = 30
KERNEL_APPEND = 'console=ttyS0,115200'
DEFAULTS = {'driver': 'redfish', 'boot_interface': 'ipxe',
            'deploy_interface': 'direct', 'inspect_interface': 'agent',
            'resource_class': 'lab'}
INTERFACE_FIELDS = ('boot_interface', 'deploy_interface',
                    'inspect_interface', 'resource_class',
                    'power_interface', 'management_interface')
# what each driver the lab's BMC speaks needs besides its driver_info
DRIVER_INTERFACES = {'redfish': 'redfish', 'ipmi': 'ipmitool'}
MASKED = '******'


class EnrollError(RuntimeError):
    """The API refused a node or a port."""


def disk_gib(size):
    """'2G', '512M', '10g' or bytes -> whole GiB (at least 1)."""
    match = re.fullmatch(r'\s*(\d+)\s*([KMGT]?)i?B?\s*', str(size), re.I)
    if not match:
        return 1
    power = ' KMGT'.index((match.group(2) or ' ').upper())
    return max(1, int(match.group(1)) * 1024 ** power // 1024 ** 3)


class Api:
    """The few Ironic API calls enrolment needs."""

    def __init__(self, url, token=None, version=API_VERSION):
        self.url = url.rstrip('/')
        self.session = requests.Session()
        self.session.headers['X-OpenStack-Ironic-API-Version'] = version
        if token:
            self.session.headers['X-Auth-Token'] = token

    def call(self, method, path, ok=(200,), **kwargs):
        kwargs.setdefault('timeout', HTTP_TIMEOUT)
        response = self.session.request(method, self.url + path, **kwargs)
        if response.status_code not in ok:
            raise EnrollError('%s %s: HTTP %s: %s' % (
                method, path, response.status_code, response.text[:1000]))
        return response


def _bmc_info(driver, machine, bmc_url, username, password, config):
    if driver == 'ipmi':
        if not config.get('ipmi_port'):
            raise EnrollError('this lab has no IPMI (created without an '
                              'IPMI port)')
        return {'ipmi_address': '127.0.0.1',
                'ipmi_port': int(config['ipmi_port']) + machine.index,
                'ipmi_username': username, 'ipmi_password': password}
    if driver != 'redfish':
        raise EnrollError('the lab BMC speaks redfish and ipmi, not %s'
                          % driver)
    return {'redfish_address': bmc_url,
            'redfish_system_id': machine.system_path,
            'redfish_username': username, 'redfish_password': password,
            'redfish_verify_ca': 'false'}


def node_body(machine, bmc_url, username, password, config, options):
    """What the node of ``machine`` should be."""
    driver = options.get('driver') or DEFAULTS['driver']
    driver_info = _bmc_info(driver, machine, bmc_url, username, password,
                            config)
    driver_info['kernel_append_params'] = (
        options.get('kernel_append_params') or KERNEL_APPEND)
    for key in ('deploy_kernel', 'deploy_ramdisk'):
        if options.get(key):
            driver_info[key] = options[key]
    body = {'name': machine.name, 'driver': driver,
            'driver_info': driver_info,
            'properties': {'cpu_arch': 'x86_64',
                           'cpus': int(config.get('cpus', 1)),
                           'memory_mb': int(config.get('memory_mib', 1024)),
                           'local_gb': disk_gib(config.get('disk_size')),
                           # the lab knows its disk: no 4 GiB minimum
                           # for the small disks a lab has
                           'root_device': {'serial': machine.disk_serial}}}
    for field in INTERFACE_FIELDS:
        body[field] = options.get(field) or DEFAULTS.get(field) \
            or DRIVER_INTERFACES[driver]
    return body


def _patch_ops(node, body):
    """JSON patch from the node as it is to ``body``."""
    ops = []
    info = node.get('driver_info') or {}
    for key, value in sorted(body['driver_info'].items()):
        if info.get(key) != value and not (
                key.endswith('password') and info.get(key) == MASKED
                and value):
            ops.append({'op': 'add', 'path': '/driver_info/%s' % key,
                        'value': value})
    wanted = body['properties']['root_device']
    if (node.get('properties') or {}).get('root_device') != wanted:
        ops.append({'op': 'add', 'path': '/properties/root_device',
                    'value': wanted})
    if node.get('driver') != body['driver']:
        ops.append({'op': 'replace', 'path': '/driver',
                    'value': body['driver']})
    for field in INTERFACE_FIELDS:
        if node.get(field) != body[field]:
            ops.append({'op': 'replace', 'path': '/' + field,
                        'value': body[field]})
    return ops


def _ensure_node(api, body):
    response = api.call('GET', '/v1/nodes/%s' % body['name'], ok=(200, 404))
    if response.status_code == 404:
        return api.call('POST', '/v1/nodes', ok=(201,), json=body).json()
    node = response.json()
    ops = _patch_ops(node, body)
    if ops:
        node = api.call('PATCH', '/v1/nodes/%s' % node['uuid'],
                        json=ops).json()
    return node


def _ensure_port(api, node, mac):
    ports = api.call('GET', '/v1/ports', params={
        'address': mac, 'fields': 'uuid,node_uuid,pxe_enabled'}).json()
    ports = ports.get('ports') or []
    if not ports:
        api.call('POST', '/v1/ports', ok=(201,), json={
            'address': mac, 'node_uuid': node['uuid'], 'pxe_enabled': True})
        return
    port = ports[0]
    if port.get('node_uuid') != node['uuid']:
        raise EnrollError('MAC %s already belongs to node %s, not %s'
                          % (mac, port.get('node_uuid'), node['name']))
    if port.get('pxe_enabled') is False:
        api.call('PATCH', '/v1/ports/%s' % port['uuid'], json=[
            {'op': 'replace', 'path': '/pxe_enabled', 'value': True}])


def enroll(api_url, machines, bmc_url, username, password, config,
           token=None, api_version=API_VERSION, **options):
    """Create or update one node (and its pxe port) per machine; the
    nodes as the API shows them afterwards."""
    unknown = set(options) - set(DEFAULTS) - {
        'deploy_kernel', 'deploy_ramdisk', 'kernel_append_params'}
    if unknown:
        raise TypeError('unknown enrolment options: %s'
                        % ', '.join(sorted(unknown)))
    api = Api(api_url, token=token, version=api_version)
    nodes = []
    for machine in machines:
        body = node_body(machine, bmc_url, username, password, config,
                         options)
        node = _ensure_node(api, body)
        _ensure_port(api, node, machine.mac)
        nodes.append(api.call('GET', '/v1/nodes/%s' % node['uuid']).json())
    return nodes
