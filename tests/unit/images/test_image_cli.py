"""``bootflow-image manifest``: the static block layout a web server can
serve as an image_source or a mirror."""

import json
import shutil
import subprocess

import pytest

from bootflow.agent.imaging import manifest as manifest_mod
from bootflow.cmd import image as image_cmd

MIB = 1024 * 1024


def _image(path):
    with open(path, 'wb') as f:
        f.write(b'\x01' * MIB)
        f.write(bytes(MIB))                 # a zero block: not stored
        f.write(b'\x02' * (MIB // 2))
    return path


def test_manifest_of_a_raw_image(tmp_path, capsys):
    raw = _image(tmp_path / 'disk.raw')
    out = tmp_path / 'mirror'
    assert image_cmd.main(['manifest', str(raw), '-o', str(out),
                           '--block-size-mb', '1']) == 0
    path, digest = capsys.readouterr().out.split()
    data = open(path, 'rb').read()
    assert digest == 'sha256:' + manifest_mod.digest(data)
    manifest = manifest_mod.loads(data)
    assert manifest['size'] == 2 * MIB + MIB // 2
    assert manifest['blocks'][1] is None
    stored = sorted(p.name for p in (out / 'blocks').rglob('*')
                    if p.is_file() and not p.name.startswith('.'))
    assert stored == sorted(h for h in manifest['blocks'] if h)


@pytest.mark.skipif(not shutil.which('qemu-img'), reason='needs qemu-img')
def test_qcow2_is_converted_and_mismatch_refused(tmp_path, capsys):
    raw = _image(tmp_path / 'disk.raw')
    qcow = tmp_path / 'disk.qcow2'
    subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2',
                    str(raw), str(qcow)], check=True)
    assert image_cmd.main(['manifest', str(qcow), '-o',
                           str(tmp_path / 'q'), '--block-size-mb', '1']) == 0
    path = capsys.readouterr().out.split()[0]
    from_qcow = json.loads(open(path).read())
    assert image_cmd.main(['manifest', str(raw), '-o', str(tmp_path / 'r'),
                           '--block-size-mb', '1']) == 0
    path = capsys.readouterr().out.split()[0]
    assert json.loads(open(path).read())['blocks'] == from_qcow['blocks']
    assert image_cmd.main(['manifest', str(qcow), '--format', 'raw', '-o',
                           str(tmp_path / 'x')]) == 1
    assert 'qcow2' in capsys.readouterr().err
