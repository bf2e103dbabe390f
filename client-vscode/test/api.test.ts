import assert from 'node:assert/strict';
import { test } from 'node:test';

import { LSPErrorCodes, ResponseError } from 'vscode-languageserver-protocol';

import { consentOffer, consentQuestion, isAccepted, isCancelled, isRequestFailed, withConsent } from '../src/common/api';
import { COMMANDS, REQUEST_FAILED, REVIEW } from '../src/common/contract';

const offer = { token: 'tok-123', backend: 'copilot', expires_in_s: 120 };

test('the generated contract agrees with the LSP error code the client library names', () => {
  assert.equal(REQUEST_FAILED, LSPErrorCodes.RequestFailed);
  assert.equal(REVIEW, 'localroute.review');
  assert.ok(Object.keys(COMMANDS).includes('localroute.stopBackend'));
});

test('a privacy refusal with a consent offer', () => {
  const err = new ResponseError(LSPErrorCodes.RequestFailed, 'refused: secrets/db.py is private', { consent: offer });
  assert.ok(isRequestFailed(err));
  assert.deepEqual(consentOffer(err), offer);
});

test('no offer: other codes, no data, or a malformed offer', () => {
  assert.equal(consentOffer(new ResponseError(LSPErrorCodes.RequestFailed, 'failed')), undefined);
  assert.equal(consentOffer(new ResponseError(-32602, 'bad params', { consent: offer })), undefined);
  assert.equal(consentOffer(new Error('boom')), undefined);
  assert.equal(consentOffer(undefined), undefined);
  for (const bad of [
    { consent: null },
    { consent: 'tok' },
    { consent: { ...offer, token: '' } },
    { consent: { ...offer, token: 7 } },
    { consent: { ...offer, backend: '' } },
    { consent: { token: 't', backend: 'b' } },
  ]) {
    assert.equal(consentOffer(new ResponseError(LSPErrorCodes.RequestFailed, 'refused', bad)), undefined, JSON.stringify(bad));
  }
});

test('extra fields of an offer are not passed on', () => {
  const err = new ResponseError(LSPErrorCodes.RequestFailed, 'refused', { consent: { ...offer, auto: true } });
  assert.deepEqual(Object.keys(consentOffer(err) ?? {}).sort(), ['backend', 'expires_in_s', 'token']);
});

test('cancelled', () => {
  assert.ok(isCancelled(new ResponseError(LSPErrorCodes.RequestCancelled, 'cancelled')));
  assert.ok(isCancelled(new ResponseError(LSPErrorCodes.ServerCancelled, 'cancelled')));
  assert.ok(!isCancelled(new ResponseError(LSPErrorCodes.RequestFailed, 'refused')));
});

test('the consent question names the file, the reason, the backend, and "this once"', () => {
  const q = consentQuestion('review', 'secrets/db.py', 'refused: secrets/db.py is private (matched glob\n secrets/**).', offer);
  assert.equal(q.send, 'Send to copilot anyway (this once)');
  assert.equal(q.message, 'Send secrets/db.py to copilot for review anyway?');
  assert.match(q.detail, /matched glob secrets\/\*\*/);
  assert.match(q.detail, /not remembered/);
  assert.match(q.detail, /120 s/);
});

test('withConsent adds the token to a copy', () => {
  const argument = { uri: 'file:///w/a.py', range: null };
  assert.deepEqual(withConsent(argument, 'tok'), { uri: 'file:///w/a.py', range: null, consent: 'tok' });
  assert.deepEqual(argument, { uri: 'file:///w/a.py', range: null });
});

test('an answer that only accepts the task', () => {
  assert.ok(isAccepted({ accepted: true, uri: 'file:///a.py', task: 'review', delivery: 'diagnostics' }));
  assert.ok(!isAccepted({ backend: 'local', findings: 1 }));
  assert.ok(!isAccepted(null));
});
