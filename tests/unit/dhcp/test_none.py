"""The none provider publishes nothing, anywhere."""

from bootflow.dhcp import none
from tests.unit.dhcp.helpers import make_task
from tests.unit.dhcp.helpers import port


def test_no_ops(dirs):
    provider = none.NoneDHCP()
    task = make_task(port('52:54:00:aa:bb:01'))
    assert provider.update_dhcp_opts(
        task, [{'opt_name': 'bootfile-name', 'opt_value': 'x'}]) is None
    assert provider.clean_dhcp_opts(task) is None
    # Not even the dnsmasq directories are touched.
    assert list(dirs.hosts.iterdir()) == []
    assert list(dirs.opts.iterdir()) == []


def test_does_not_validate():
    # No server will see the options, so none refuses none.
    none.NoneDHCP().update_dhcp_opts(make_task(), [{'opt_name': 'bogus'}])


def test_no_ipxe_tag():
    assert none.NoneDHCP().supports_ipxe_tag() is False
