"""An in-memory BMC behind sushy's connector, for the BIOS, firmware,
RAID and inspection tests.

Only the transport (sushy's ``Connector``, the external library's HTTP
layer) is replaced: sushy's real resource classes parse the JSON
documents kept here, so the tests exercise sushy's actual behaviour
(refresh cascades, task monitors built from responses, registries).
Writes go to per-path handlers a test installs; every request is logged.
"""

import contextlib
import copy
import json
from urllib import parse

from sushy import exceptions as sushy_exc
from sushy.resources.manager import manager as sushy_manager
from sushy.resources.system import system as sushy_system
from sushy.resources.updateservice import updateservice

from tests.unit.drivers import redfish as rf

SYSTEM = rf.SYSTEM_PATH
MANAGER = '/redfish/v1/Managers/BMC'
BIOS = SYSTEM + '/Bios'
BIOS_SETTINGS = BIOS + '/Settings'
UPDATE_SERVICE = '/redfish/v1/UpdateService'
SIMPLE_UPDATE = UPDATE_SERVICE + '/Actions/UpdateService.SimpleUpdate'


class Response:
    def __init__(self, status=200, body=None, headers=None):
        self.status_code = status
        self.headers = dict(headers or {})
        self._body = body
        self.content = b'' if body is None else json.dumps(body).encode()

    def json(self):
        if self._body is None:
            raise ValueError('no JSON body')
        return copy.deepcopy(self._body)


class FakeBMC:
    """JSON documents by path; ``on(method, path, handler)`` answers
    writes (handler(data) -> Response); GETs of unknown paths are 404."""

    def __init__(self):
        self.docs = {}
        self.handlers = {}
        self.requests = []
        self.unreachable = 0  # the next N requests fail to connect

    def add(self, path, doc):
        self.docs[path] = dict(doc, **{'@odata.id': path})
        return self.docs[path]

    def on(self, method, path, handler):
        self.handlers[(method, path)] = handler

    def requested(self, method=None, path=None):
        return [(m, p, d) for m, p, d in self.requests
                if method in (None, m) and path in (None, p)]

    def _op(self, method, path, data=None, **kwargs):
        path = parse.urlsplit(path).path
        self.requests.append((method, path, copy.deepcopy(data)))
        if self.unreachable:
            self.unreachable -= 1
            raise sushy_exc.ConnectionError(url=rf.ADDRESS + path,
                                            error='Connection refused')
        handler = self.handlers.get((method, path))
        if handler is not None:
            response = handler(data)
        elif method == 'GET' and path in self.docs:
            response = Response(200, self.docs[path])
        elif method == 'GET':
            response = Response(404, error_body('%s not found' % path))
        else:
            response = Response(405, error_body('%s not allowed' % method))
        sushy_exc.raise_for_response(method, rf.ADDRESS + path, response)
        return response

    def get(self, path='', data=None, headers=None, **kwargs):
        return self._op('GET', path, data)

    def post(self, path='', data=None, headers=None, **kwargs):
        return self._op('POST', path, data)

    def patch(self, path='', data=None, headers=None, etag=None, **kwargs):
        return self._op('PATCH', path, data)

    def delete(self, path='', data=None, headers=None, **kwargs):
        return self._op('DELETE', path, data)

    # -- sushy resources over this BMC --------------------------------------

    def system(self, path=SYSTEM, registries=None):
        return sushy_system.System(self, path, registries=registries or {})

    def manager(self, path=MANAGER):
        return sushy_manager.Manager(self, path)

    def update_service(self):
        return updateservice.UpdateService(self, UPDATE_SERVICE)

    def install(self, bmc, registries=None):
        """Have utils' (mocked) sushy root answer from this BMC."""
        bmc.root.get_system.return_value = None
        bmc.root.get_system.side_effect = (
            lambda path=SYSTEM: self.system(path, registries))
        bmc.root.get_update_service.side_effect = self.update_service


def error_body(message):
    return {'error': {'code': 'Base.1.0.GeneralError', 'message': message}}


def system_doc(**extra):
    doc = {
        'Id': '1', 'Name': 'node-1', 'UUID': rf.NODE_UUID,
        'PowerState': 'On', 'BiosVersion': '1.0.0',
        'Manufacturer': 'Contoso', 'Model': 'R1000',
        'SerialNumber': 'SN-1',
        'Boot': {'BootSourceOverrideMode': 'UEFI'},
        'Bios': {'@odata.id': BIOS},
        'Links': {'ManagedBy': [{'@odata.id': MANAGER}]},
        'Actions': {'#ComputerSystem.Reset': {
            'target': SYSTEM + '/Actions/ComputerSystem.Reset',
            'ResetType@Redfish.AllowableValues': [
                'On', 'ForceOff', 'GracefulShutdown', 'ForceRestart',
                'GracefulRestart', 'Nmi']}},
    }
    doc.update(extra)
    return doc


def manager_doc(**extra):
    doc = {'Id': 'BMC', 'Name': 'Manager', 'FirmwareVersion': '2.10',
           'Model': 'Contoso BMC'}
    doc.update(extra)
    return doc


@contextlib.contextmanager
def running(conf, **overrides):
    """A FakeBMC behind sushy for one test, with fast polling: the
    ``[redfish]`` ``overrides`` are applied first."""
    conf.set_override('connection_retry_interval', 0, 'redfish')
    for name, value in overrides.items():
        conf.set_override(name, value, 'redfish')
    with rf.patched_sushy() as patched:
        bmc = FakeBMC()
        bmc.install(patched)
        yield bmc
