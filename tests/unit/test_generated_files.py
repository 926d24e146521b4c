"""Committed files that are generated from code must match the code.

Both the sample configuration and the README's state diagram are read by
people who never look at the source; a stale copy misleads them silently,
so a stale copy fails the tests instead.
"""

import difflib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
GENERATOR_CONF = REPO_ROOT / 'tools' / 'config' / \
    'bootflow-config-generator.conf'
SAMPLE = REPO_ROOT / 'etc' / 'bootflow' / 'bootflow.conf.sample'
POLICY_CONF = REPO_ROOT / 'tools' / 'config' / \
    'bootflow-policy-generator.conf'
POLICY_SAMPLE = REPO_ROOT / 'etc' / 'bootflow' / 'policy.yaml.sample'
README = REPO_ROOT / 'README.md'
STATES_TOOL = REPO_ROOT / 'tools' / 'states_to_mermaid.py'


def _load_states_tool():
    # tools/ is deliberately not a package (it is not shipped), so load the
    # script by path.
    spec = importlib.util.spec_from_file_location('states_to_mermaid',
                                                  STATES_TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def states_tool():
    return _load_states_tool()


def _short_diff(old, new, old_name, new_name, limit=60):
    lines = list(difflib.unified_diff(old.splitlines(), new.splitlines(),
                                      old_name, new_name, lineterm=''))
    if len(lines) > limit:
        lines = lines[:limit] + ['... (%d more lines)' % (len(lines) - limit)]
    return '\n'.join(lines)


def _assert_same(committed_path, fresh, tox_env):
    committed = committed_path.read_text(encoding='utf-8')
    generated = fresh.read_text(encoding='utf-8')
    assert committed == generated, (
        '%s is stale; run "tox -e %s".\n%s'
        % (committed_path.relative_to(REPO_ROOT), tox_env,
           _short_diff(committed, generated, 'committed', 'generated')))


def test_config_sample_is_current(tmp_path):
    fresh = tmp_path / 'bootflow.conf.sample'
    # A separate interpreter: the generator imports every namespace's
    # options, and the unit tests' global CONF must not see them.
    proc = subprocess.run(
        [sys.executable, '-m', 'oslo_config.generator',
         '--config-file', str(GENERATOR_CONF), '--output-file', str(fresh)],
        cwd=str(REPO_ROOT), stdin=subprocess.DEVNULL, capture_output=True,
        text=True, timeout=120, check=False)
    assert proc.returncode == 0, 'oslo-config-generator failed (%s):\n%s' % (
        proc.returncode, proc.stderr[-3000:])
    assert SAMPLE.exists(), \
        '%s is missing; run "tox -e genconfig"' % SAMPLE.relative_to(
            REPO_ROOT)
    _assert_same(SAMPLE, fresh, 'genconfig')


def test_policy_sample_is_current(tmp_path):
    fresh = tmp_path / 'policy.yaml.sample'
    proc = subprocess.run(
        [sys.executable, '-c',
         'import sys; from oslo_policy import generator; '
         'sys.exit(generator.generate_sample())',
         '--config-file', str(POLICY_CONF), '--output-file', str(fresh)],
        cwd=str(REPO_ROOT), stdin=subprocess.DEVNULL, capture_output=True,
        text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _assert_same(POLICY_SAMPLE, fresh, 'genpolicy')


def test_readme_state_diagram_is_current(states_tool):
    try:
        current = states_tool.is_current(str(README))
    except states_tool.MarkersNotFound:
        # The README's owner adds the markers; until then there is no
        # block to keep current.
        pytest.skip('README.md has no %s / %s markers yet'
                    % (states_tool.BEGIN_MARKER, states_tool.END_MARKER))
    assert current, ('the state diagram in README.md is stale; run '
                     '"tox -e genstates"')


def test_state_check_rejects_stale_block(states_tool, tmp_path):
    # Guards the guard: a check that always passes would hide drift.
    doc = tmp_path / 'README.md'
    doc.write_text('intro\n\n%s\n```mermaid\nstateDiagram-v2\n```\n%s\n'
                   'outro\n' % (states_tool.BEGIN_MARKER,
                                states_tool.END_MARKER), encoding='utf-8')
    assert not states_tool.is_current(str(doc))
    assert states_tool.update(str(doc)) is True
    assert states_tool.is_current(str(doc))
    assert states_tool.update(str(doc)) is False
    text = doc.read_text(encoding='utf-8')
    assert text.startswith('intro\n\n') and text.endswith('\noutro\n')


def test_state_diagram_covers_machine(states_tool):
    from bootflow.common import state_machine

    diagram = states_tool.render()
    assert diagram == states_tool.render()
    lines = diagram.splitlines()
    assert lines[0] == 'stateDiagram-v2'
    for start, event, end in state_machine.TRANSITIONS:
        prefix = '    %s --> %s : ' % (states_tool._state_id(start),
                                       states_tool._state_id(end))
        edges = [line for line in lines if line.startswith(prefix)]
        assert len(edges) == 1, (start, end, edges)
        assert event in edges[0][len(prefix):].split(', '), (event, edges)
    stable = [line for line in lines if line.startswith('    class ')]
    assert stable and 'enroll' in stable[0] and 'wait_call_back' not in \
        stable[0], stable
