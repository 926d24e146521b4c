"""The published OpenAPI document: valid, complete, and current."""

import json
import subprocess
import sys
from pathlib import Path

import openapi_spec_validator

from bootflow.api import app as api_app
from bootflow.api import openapi
from bootflow.api import validation

REPO_ROOT = Path(__file__).resolve().parents[3]
COMMITTED = REPO_ROOT / 'api-ref' / 'openapi.json'


def _document():
    return openapi.generate(api_app.build_router())


def test_document_is_valid_openapi_31():
    openapi_spec_validator.validate(_document())


def test_every_route_is_described():
    router = api_app.build_router()
    doc = openapi.generate(router)
    for method, template, _ in router.routes:
        if template == '/openapi.json':
            continue
        path = template.rstrip('/') or '/'
        assert method.lower() in doc['paths'][path], (method, template)


def test_request_schemas_are_the_validating_ones():
    # the document copies the very schema objects handlers validate with
    router = api_app.build_router()
    doc = openapi.generate(router)
    checked = 0
    for method, template, handler in router.routes:
        schema = getattr(handler, 'request_schema', None)
        if schema is None:
            continue
        op = doc['paths'][template.rstrip('/')][method.lower()]
        published = op['requestBody']['content']['application/json'][
            'schema']
        assert published == schema
        checked += 1
    assert checked >= 2


def test_patch_bodies_are_json_patch():
    doc = _document()
    op = doc['paths']['/v1/chassis/{chassis_ident}']['patch']
    schema = op['requestBody']['content']['application/json']['schema']
    assert schema == validation.JSON_PATCH


def test_committed_document_is_current():
    proc = subprocess.run(
        [sys.executable, '-m', 'bootflow.api.openapi'], cwd=str(REPO_ROOT),
        capture_output=True, text=True, timeout=120, check=True)
    assert COMMITTED.exists(), 'run "tox -e genopenapi"'
    committed = json.loads(COMMITTED.read_text(encoding='utf-8'))
    assert committed == json.loads(proc.stdout), (
        'api-ref/openapi.json is stale; run "tox -e genopenapi"')


def test_served_document_matches_generated(api):
    resp = api.get('/openapi.json', version=None)
    assert resp.status_int == 200
    assert resp.data == json.loads(json.dumps(_document()))
    assert resp.data['info']['version'] == '1.115'
