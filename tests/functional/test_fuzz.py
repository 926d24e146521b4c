"""Property-based fuzzing of the running service from its own OpenAPI
document: whatever schemathesis sends, no answer may be a server error.

A dedicated service is started so the fuzzer's random writes cannot
disturb the other functional tests.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.functional import conftest as fc

EXAMPLES = os.environ.get('BOOTFLOW_TEST_FUZZ_EXAMPLES', '25')


@pytest.fixture(scope='module')
def fuzz_service(tmp_path_factory):
    if os.environ.get(fc.ENDPOINT_ENV):
        pytest.skip('fuzzing writes at random; only on a service it owns')
    svc = fc.start_service('sqlite', tmp_path_factory.mktemp('fuzz'))
    yield svc
    svc.stop()


def _schemathesis():
    exe = Path(sys.executable).with_name('schemathesis')
    return str(exe) if exe.exists() else shutil.which('schemathesis')


@pytest.mark.parametrize('version', ['latest', '1.1', '1.52'])
def test_fuzz_finds_no_server_error(fuzz_service, version, tmp_path):
    proc = subprocess.run(
        [_schemathesis(), 'run', fuzz_service.url('/openapi.json'),
         '--checks', 'not_a_server_error',
         '--header', 'X-OpenStack-Ironic-API-Version: %s' % version,
         '--max-examples', EXAMPLES, '--seed', '20261122',
         '--workers', '1', '--warnings', 'off', '--no-color'],
        cwd=str(tmp_path), capture_output=True, text=True, timeout=900,
        check=False)
    tail = proc.stdout[-6000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail + '\n' + fuzz_service.log_tail()
    assert 'No issues found' in proc.stdout, tail
    assert ' passed' in proc.stdout, tail
