"""The instance launch and delete flows: atoms, data, retry, reverts."""

from taskflow import flow as tf_flow
from taskflow import retry

from bootflow.conductor import instances


def _walk(flow):
    """Every atom, subflows opened, each retry controller before the
    atoms it governs."""
    for item, _ in flow.iter_nodes():
        if isinstance(item, tf_flow.Flow):
            if item.retry is not None:
                yield item.retry
            yield from _walk(item)
        else:
            yield item


def _atoms(flow):
    return [(atom.name, sorted(atom.requires), sorted(atom.provides))
            for atom in _walk(flow)]


def test_launch_flow_atoms_and_data():
    assert _atoms(instances.launch_flow(max_attempts=3)) == [
        ('validate_request', ['instance_uuid'], []),
        ('reschedule', [], []),
        ('allocate', ['instance_uuid'], ['allocation_uuid']),
        ('deploy_node', ['allocation_uuid', 'instance_uuid'], []),
        ('wait_active', ['allocation_uuid', 'instance_uuid'], []),
        ('mark_active', ['instance_uuid'], []),
    ]


def test_retry_governs_allocate_deploy_and_wait():
    flow = instances.launch_flow(max_attempts=4)
    subflows = [item for item, _ in flow.iter_nodes()
                if isinstance(item, tf_flow.Flow)]
    assert len(subflows) == 1
    controller = subflows[0].retry
    assert isinstance(controller, retry.Times)
    assert controller._attempts == 4
    assert [a.name for a, _ in subflows[0].iter_nodes()] == [
        'allocate', 'deploy_node', 'wait_active']


def test_only_allocate_and_deploy_undo_something():
    undoing = [atom.name for atom in _walk(instances.launch_flow())
               if not isinstance(atom, retry.Retry)
               and 'revert' in type(atom).__dict__]
    # the allocation is released; a node whose deploy failed is set aside
    assert undoing == ['allocate', 'deploy_node']


def test_delete_flow_atoms():
    assert [name for name, _, _ in _atoms(instances.delete_flow())] == [
        'undeploy', 'release_allocation', 'delete_record']
