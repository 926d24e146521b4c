import pytest

from bootflow.api import microversion as mv
from bootflow.common import exception

LEGACY = 'X-OpenStack-Ironic-API-Version'
STANDARD = 'OpenStack-API-Version'


def test_constants():
    assert mv.MIN_VERSION == (1, 1)
    assert mv.MAX_VERSION == (1, 115)


def test_missing_headers_gives_minimum():
    assert mv.parse({}) == (1, 1)


def test_missing_headers_gives_passed_minimum():
    assert mv.parse({}, min_v=(1, 5), max_v=(1, 20)) == (1, 5)


def test_legacy_header():
    assert mv.parse({LEGACY: '1.50'}) == (1, 50)


@pytest.mark.parametrize('name', [
    'x-openstack-ironic-api-version',
    'X-OPENSTACK-IRONIC-API-VERSION',
    'HTTP_X_OPENSTACK_IRONIC_API_VERSION',
])
def test_legacy_header_case_insensitive_and_wsgi(name):
    assert mv.parse({name: '1.31'}) == (1, 31)


def test_standard_header():
    assert mv.parse({STANDARD: 'baremetal 1.72'}) == (1, 72)


def test_standard_header_wsgi_and_case():
    assert mv.parse({'HTTP_OPENSTACK_API_VERSION': 'BareMetal 1.9'}) == (1, 9)


def test_standard_header_list_picks_baremetal():
    headers = {STANDARD: 'compute 2.95, baremetal 1.40'}
    assert mv.parse(headers) == (1, 40)


def test_standard_header_other_service_only_is_ignored():
    assert mv.parse({STANDARD: 'compute 2.95'}) == (1, 1)


def test_standard_header_other_service_falls_back_to_legacy():
    assert mv.parse({STANDARD: 'compute 2.95', LEGACY: '1.20'}) == (1, 20)


def test_standard_header_wins_over_legacy():
    assert mv.parse({STANDARD: 'baremetal 1.30', LEGACY: '1.20'}) == (1, 30)


@pytest.mark.parametrize('headers', [
    {LEGACY: 'latest'},
    {LEGACY: 'LATEST'},
    {STANDARD: 'baremetal latest'},
])
def test_latest_gives_maximum(headers):
    assert mv.parse(headers) == (1, 115)
    assert mv.parse(headers, max_v=(1, 80)) == (1, 80)


def test_boundaries_accepted():
    assert mv.parse({LEGACY: '1.1'}) == (1, 1)
    assert mv.parse({LEGACY: '1.115'}) == (1, 115)
    assert mv.parse({LEGACY: ' 1.7 '}) == (1, 7)


@pytest.mark.parametrize('value', ['1', 'abc', '1.x', '', '1.2.3', '1.-1',
                                   'v1.5', '1,5'])
def test_malformed_legacy_is_406(value):
    with pytest.raises(exception.NotAcceptable) as ei:
        mv.parse({LEGACY: value})
    assert ei.value.code == 406
    assert 'Invalid value for X-OpenStack-Ironic-API-Version header' in str(
        ei.value)


@pytest.mark.parametrize('value', ['baremetal', 'baremetal 1.5 extra',
                                   'baremetal one'])
def test_malformed_standard_is_406(value):
    with pytest.raises(exception.NotAcceptable) as ei:
        mv.parse({STANDARD: value})
    assert 'Invalid value' in str(ei.value)


def test_minor_above_max_is_406_with_range():
    with pytest.raises(exception.NotAcceptable) as ei:
        mv.parse({LEGACY: '1.999'})
    assert ei.value.code == 406
    assert str(ei.value) == (
        'Version 1.999 was requested but the minor version is not supported '
        'by this service. The supported version range is: [1.1, 1.115].')


def test_minor_below_min_is_406():
    with pytest.raises(exception.NotAcceptable, match=r'\[1\.5, 1\.20\]'):
        mv.parse({LEGACY: '1.4'}, min_v=(1, 5), max_v=(1, 20))


def test_max_is_a_parameter():
    with pytest.raises(exception.NotAcceptable, match=r'\[1\.1, 1\.20\]'):
        mv.parse({LEGACY: '1.21'}, max_v=(1, 20))
    assert mv.parse({LEGACY: '1.200'}, max_v=(1, 200)) == (1, 200)


@pytest.mark.parametrize('value', ['2.0', '0.5'])
def test_wrong_major_is_406(value):
    with pytest.raises(exception.NotAcceptable) as ei:
        mv.parse({LEGACY: value})
    msg = str(ei.value)
    assert 'Version %s requested but not supported' % value in msg
    assert '[1.1, 1.115]' in msg


def test_check():
    mv.check((1, 50))
    with pytest.raises(exception.NotAcceptable):
        mv.check((1, 0))


def test_fmt_and_allows():
    assert mv.fmt((1, 7)) == '1.7'
    assert mv.fmt([1, 70]) == '1.70'
    assert mv.allows((1, 52), (1, 52))
    assert mv.allows((1, 60), (1, 52))
    assert not mv.allows((1, 9), (1, 52))
    assert (1, 10) > (1, 9)  # tuples, not strings


def test_response_headers_with_requested():
    h = mv.response_headers((1, 42))
    assert h['X-OpenStack-Ironic-API-Minimum-Version'] == '1.1'
    assert h['X-OpenStack-Ironic-API-Maximum-Version'] == '1.115'
    assert h[LEGACY] == '1.42'
    assert h[STANDARD] == 'baremetal 1.42'
    assert LEGACY in h['Vary']


def test_response_headers_without_requested():
    h = mv.response_headers(None, min_v=(1, 2), max_v=(1, 90))
    assert h['X-OpenStack-Ironic-API-Minimum-Version'] == '1.2'
    assert h['X-OpenStack-Ironic-API-Maximum-Version'] == '1.90'
    assert LEGACY not in h and STANDARD not in h


def test_get_header_prefers_exact_and_misses_cleanly():
    assert mv.get_header({'Foo': 'a'}, 'foo') == 'a'
    assert mv.get_header({'wsgi.input': object()}, LEGACY) is None


def test_requested_string_reports_source():
    assert mv.requested_string({LEGACY: '1.3'}) == ('1.3', LEGACY)
    assert mv.requested_string({STANDARD: 'baremetal 1.4'}) == (
        '1.4', STANDARD)
    assert mv.requested_string({}) == (None, None)
