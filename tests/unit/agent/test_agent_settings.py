"""Settings: the kernel command line, normalised, with flags on top."""

import pytest

from bootflow.agent import agent as agent_mod
from bootflow.agent import main
from bootflow.agent import settings

NODE = '1be26c0b-03f2-4d2e-ae87-c02d7f33c123'


def load(tmp_path, cmdline, *flags):
    path = tmp_path / 'cmdline'
    path.write_text(cmdline)
    args = main.build_parser().parse_args(
        ['--cmdline-file', str(path)] + list(flags))
    return settings.load(args)


def test_kernel_command_line_fills_every_field(tmp_path):
    s = load(tmp_path, (
        'BOOT_IMAGE=/vmlinuz ro quiet ipa-api-url=https://api.example:6385/ '
        'BOOTIF=01-52-54-00-AB-cd-EF bootflow_node=%s DEVELOPER=1 '
        'PRE=http://h/pre.sh PRE_CHECKSUM=sha256:%s POST=http://h/post '
        'POST_CHECKSUM=%s\n' % (NODE, 'a' * 64, 'b' * 32)))
    assert s == settings.Settings(
        api_url='https://api.example:6385', node_uuid=NODE,
        bootif='52:54:00:ab:cd:ef', developer=True,
        pre_url='http://h/pre.sh', pre_checksum='sha256:' + 'a' * 64,
        post_url='http://h/post', post_checksum='b' * 32)
    assert not s.inspect and not s.discover
    assert s.script_timeout == 600 and s.poll_interval == 10


@pytest.mark.parametrize('value', [
    '01-52-54-00-ab-cd-ef', '52:54:00:AB:CD:EF', '52-54-00-ab-cd-ef'])
def test_bootif_forms_normalise_to_lower_case_colons(tmp_path, value):
    s = load(tmp_path, 'ipa-api-url=http://a BOOTIF=%s' % value)
    assert s.bootif == '52:54:00:ab:cd:ef'


@pytest.mark.parametrize('value', ['01-52-54-00-ab', 'zz:54:00:ab:cd:ef',
                                   '02-52-54-00-ab-cd-ef-00'])
def test_a_bad_bootif_is_a_settings_error(tmp_path, value):
    with pytest.raises(settings.SettingsError, match='BOOTIF'):
        load(tmp_path, 'ipa-api-url=http://a BOOTIF=%s' % value)


@pytest.mark.parametrize('word,expected', [
    ('DEVELOPER=1', True), ('DEVELOPER=true', True), ('DEVELOPER=True', True),
    ('DEVELOPER', True), ('DEVELOPER=0', False), ('DEVELOPER=false', False),
    ('', False)])
def test_developer_flag(tmp_path, word, expected):
    assert load(tmp_path, 'ipa-api-url=http://a ' + word).developer is expected


def test_developer_garbage_is_rejected(tmp_path):
    with pytest.raises(settings.SettingsError, match='DEVELOPER'):
        load(tmp_path, 'ipa-api-url=http://a DEVELOPER=maybe')


def test_flags_override_the_command_line(tmp_path):
    s = load(tmp_path,
             'ipa-api-url=http://kernel BOOTIF=01-52-54-00-00-00-01 '
             'bootflow_node=kernel-node PRE=http://kernel/pre',
             '--api-url', 'http://flag:1234', '--bootif', '52:54:00:00:00:02',
             '--node-uuid', NODE, '--pre-url', 'http://flag/pre',
             '--developer', '--discover', '--lookup-timeout', '5',
             '--script-timeout', '7', '--poll-interval', '0.5')
    assert (s.api_url, s.bootif, s.node_uuid, s.pre_url) == (
        'http://flag:1234', '52:54:00:00:00:02', NODE, 'http://flag/pre')
    assert s.developer and s.discover
    assert (s.lookup_timeout, s.script_timeout, s.poll_interval) == (5, 7,
                                                                     0.5)


@pytest.mark.parametrize('value,expected', [
    ('http://192.0.2.1:6385', 'http://192.0.2.1:6385'),
    ('https://api.example/baremetal/', 'https://api.example/baremetal'),
    ('192.0.2.1', 'http://192.0.2.1:6385'),
    ('192.0.2.1:8080', 'http://192.0.2.1:8080'),
    ('[2001:db8::1]', 'http://[2001:db8::1]:6385'),
])
def test_server_addr_is_the_fallback_api_url(tmp_path, value, expected):
    assert load(tmp_path, 'SERVER_ADDR=%s' % value).api_url == expected


def test_ipa_api_url_wins_over_server_addr(tmp_path):
    s = load(tmp_path, 'SERVER_ADDR=http://other ipa-api-url=http://api')
    assert s.api_url == 'http://api'


def test_no_api_url_is_a_clear_error(tmp_path):
    with pytest.raises(settings.SettingsError,
                       match='ipa-api-url=.*SERVER_ADDR=.*--api-url'):
        load(tmp_path, 'ro quiet BOOTIF=01-52-54-00-ab-cd-ef')


def test_main_exits_2_without_an_api_url(tmp_path, capsys):
    empty = tmp_path / 'cmdline'
    empty.write_text('ro quiet\n')
    assert main.main(['--cmdline-file', str(empty)]) == \
        agent_mod.EXIT_SETTINGS == 2
    assert 'No API URL' in capsys.readouterr().err


def test_root_supplies_proc_cmdline(tmp_path):
    (tmp_path / 'proc').mkdir()
    (tmp_path / 'proc' / 'cmdline').write_text('ipa-api-url=http://fixture')
    args = main.build_parser().parse_args(['--root', str(tmp_path)])
    s = settings.load(args)
    assert (s.api_url, s.root) == ('http://fixture', str(tmp_path))


def test_inspection_callback_means_an_inspection_boot(tmp_path):
    s = load(tmp_path, 'ipa-api-url=http://api '
             'ipa-inspection-callback-url=http://api/v1/continue_inspection')
    assert s.inspect
    assert s.continue_inspection_url == 'http://api/v1/continue_inspection'
    plain = load(tmp_path, 'ipa-api-url=http://api')
    assert not plain.inspect
    assert plain.continue_inspection_url == \
        'http://api/v1/continue_inspection'


def test_quoted_values_and_unbalanced_quotes(tmp_path):
    assert settings.parse_cmdline('a="x y" b c=') == {'a': 'x y', 'b': None,
                                                      'c': ''}
    # An unbalanced quote must not stop the machine from provisioning.
    assert settings.parse_cmdline('a="x b=1')['b'] == '1'


def test_insecure_from_the_kernel(tmp_path):
    assert load(tmp_path, 'ipa-api-url=https://a ipa-insecure=1').insecure
