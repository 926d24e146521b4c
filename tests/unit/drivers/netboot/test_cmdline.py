"""Kernel command lines: what is built, and what is refused before it
can reach a boot config."""

import pytest

from bootflow.common import exception
from bootflow.drivers.modules.netboot import cmdline

NODE = '1be26c0b-03f2-4d2e-ae87-c02d7f33c123'


def test_ramdisk_params_carry_callback_bootif_mode_and_scripts():
    params = cmdline.ramdisk_params(
        NODE, 'http://192.0.2.1:6385', mac='52:54:00:AA:bb:01',
        developer=True, pre_url='http://192.0.2.1/pre.sh',
        post_url='https://192.0.2.1/post?x=1')
    assert cmdline.build(params, ['console=ttyS0,115200n8']) == (
        'SERVER_ADDR=http://192.0.2.1:6385 '
        'ipa-api-url=http://192.0.2.1:6385 BOOTIF=01-52-54-00-aa-bb-01 '
        'bootflow_node=%s DEVELOPER=1 PRE=http://192.0.2.1/pre.sh '
        'POST=https://192.0.2.1/post?x=1 console=ttyS0,115200n8' % NODE)


def test_script_checksums_and_the_inspection_callback():
    digest = 'sha256:' + 'ab' * 32
    line = cmdline.build(cmdline.ramdisk_params(
        NODE, 'http://h:6385', pre_url='http://h/pre', pre_checksum=digest,
        post_url='http://h/post', post_checksum='cd' * 16,
        extra=[('ipa-inspection-callback-url',
                'http://h:6385/v1/continue_inspection')]))
    assert ('PRE=http://h/pre PRE_CHECKSUM=%s POST=http://h/post '
            'POST_CHECKSUM=%s ipa-inspection-callback-url='
            'http://h:6385/v1/continue_inspection' % (digest, 'cd' * 16)
            ) in line
    with pytest.raises(exception.InvalidParameterValue):
        cmdline.build(cmdline.ramdisk_params(
            NODE, 'http://h:6385', pre_checksum='sha256:x y'))


def test_user_mode_and_no_scripts_leave_the_keys_out():
    line = cmdline.build(cmdline.ramdisk_params(NODE, 'http://h:6385'))
    assert 'DEVELOPER' not in line and 'PRE=' not in line
    assert 'BOOTIF' not in line


def test_flags_and_append_order():
    assert cmdline.build([('quiet', True), ('x', None), ('y', False)],
                         ['a=1']) == 'quiet a=1'


@pytest.mark.parametrize('value', [
    'quiet\ninitrd http://evil/x', 'a=1\r', 'a="b"', "a='b'", 'a#b',
    'x=${evil}', 'x=1;reboot', 'a&&b', 'a||b', 'x=`id`', 'a\\b', 'a|b',
    'a<b', 'a{b}', 'a\tb', 'a\x00b', 'caf\u00e9',
])
def test_injection_attempts_are_refused(value):
    with pytest.raises(exception.InvalidParameterValue):
        cmdline.split_append(value)


def test_append_splits_on_spaces():
    assert cmdline.split_append('  nofb   vga=normal ') == \
        ['nofb', 'vga=normal']


@pytest.mark.parametrize('url', [
    'ftp://h/x', 'http://h/a b', 'http://h/${x}', 'http://h/a;b',
    'http://h/\nkernel', 'javascript:x', '', None, 'http://h/a"b',
])
def test_bad_script_urls_are_refused(url):
    with pytest.raises(exception.InvalidParameterValue):
        cmdline.ramdisk_params(NODE, 'http://h:6385', pre_url=url or 'x',
                               post_url=None)
    with pytest.raises(exception.InvalidParameterValue):
        cmdline.check_url(url, 'url')


def test_bad_callback_url_is_refused():
    with pytest.raises(exception.InvalidParameterValue):
        cmdline.ramdisk_params(NODE, 'http://h:6385/ x')


def test_bad_parameter_name_is_refused():
    with pytest.raises(exception.InvalidParameterValue):
        cmdline.build([('a b', '1')])
