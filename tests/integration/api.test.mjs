// Arkiv's GraphQL API tried with the tools integrators use. Started by graphql's
// TestJSIntegration, which passes the server and credentials in the environment:
// ARKIV_URL (http://…/graphql), ARKIV_ADMIN_KEY, ARKIV_USER_ID, ARKIV_SCHEMA, ARKIV_BASELINE.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import WebSocket from 'ws';
import { createClient } from 'graphql-ws';
import { GraphQLClient, ClientError } from 'graphql-request';
import {
  GraphQLSchema, buildClientSchema, buildSchema, getIntrospectionQuery, lexicographicSortSchema, printSchema,
} from 'graphql';

const require = createRequire(import.meta.url);
const apollo = require('@apollo/client/core');
const { createPersistedQueryLink } = require('@apollo/client/link/persisted-queries');

const URL_ = process.env.ARKIV_URL;
const WS_URL = URL_.replace(/^http/, 'ws');
const ADMIN = process.env.ARKIV_ADMIN_KEY;
const USER_ID = process.env.ARKIV_USER_ID;

const gql = (key) => new GraphQLClient(URL_, { headers: key ? { Authorization: `Bearer ${key}` } : {} });

// rawSocket opens a graphql-transport-ws socket and resolves with its close code.
function rawSocket(send, headers = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(WS_URL, 'graphql-transport-ws', { headers });
    ws.on('open', () => send(ws));
    ws.on('close', (code) => resolve(code));
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode));
    ws.on('error', () => {});
    setTimeout(() => reject(new Error('no close within 20 s')), 20000);
  });
}

// newKey creates an API key for the test user, returning {id, secret}.
async function newKey() {
  const r = await gql(ADMIN).request(`mutation($in: CreateApiKeyInput!) { createApiKey(input: $in) { id secret position } }`,
    { in: { userId: USER_ID } });
  await gql(ADMIN).request(`query($p: String) { me(consistentAt: $p) { id } }`, { p: r.createApiKey.position });
  return r.createApiKey;
}

test('websocket close codes follow graphql-transport-ws', async () => {
  assert.equal(await rawSocket((ws) => ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: '{ version }' } }))), 4401);
  assert.equal(await rawSocket((ws) => ws.send(JSON.stringify({ type: 'connection_init', payload: 'nonsense' }))), 4400);
  assert.equal(await rawSocket((ws) => ws.send(JSON.stringify({ type: 'connection_init', payload: { Authorization: 'Bearer arkiv_nope' } }))), 4403);
  assert.equal(await rawSocket((ws) => ws.send(JSON.stringify({ type: 'what_is_this' }))), 4400);
  assert.equal(await rawSocket(() => {}), 4408);
});

test('validation errors arrive as error messages', async () => {
  const client = createClient({ url: WS_URL, webSocketImpl: WebSocket, connectionParams: { Authorization: `Bearer ${ADMIN}` }, retryAttempts: 0 });
  const errs = await new Promise((resolve) => {
    client.subscribe({ query: '{ noSuchField }' }, { next: () => {}, error: resolve, complete: () => resolve(null) });
  });
  assert.ok(Array.isArray(errs) && errs[0].extensions.code === 'INVALID', JSON.stringify(errs));
  await client.dispose();
});

test('a revoked key ends its socket with 4403', async () => {
  const key = await newKey();
  const closed = new Promise((resolve) => {
    const client = createClient({
      url: WS_URL, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false,
      connectionParams: { Authorization: `Bearer ${key.secret}` },
      on: { closed: (e) => resolve(e.code) },
    });
    client.on('connected', async () => {
      await gql(ADMIN).request(`mutation($id: ID!) { revokeApiKey(id: $id) { id } }`, { id: key.id });
    });
  });
  assert.equal(await closed, 4403);
});

test('a foreign Origin is refused, no Origin is allowed', async () => {
  assert.equal(await rawSocket(() => {}, { Origin: 'https://evil.example' }), 403);
  const code = await rawSocket((ws) => {
    ws.on('message', (m) => { if (JSON.parse(m).type === 'connection_ack') ws.close(1000); });
    ws.send(JSON.stringify({ type: 'connection_init' }));
  });
  assert.equal(code, 1000);
});

test('subscriptions per connection are bounded', async () => {
  const client = createClient({ url: WS_URL, webSocketImpl: WebSocket, connectionParams: { Authorization: `Bearer ${ADMIN}` }, retryAttempts: 0 });
  const subs = [];
  for (let i = 0; i < 20; i++) subs.push(client.subscribe({ query: 'subscription { auditEvents { id } }' }, { next: () => {}, error: () => {}, complete: () => {} }));
  const refused = await new Promise((resolve) => {
    client.subscribe({ query: 'subscription { auditEvents { id } }' }, { next: () => {}, error: resolve, complete: () => resolve(null) });
  });
  assert.match(JSON.stringify(refused), /limit/);
  subs.forEach((u) => u());
  await client.dispose();
});

test('introspection returns schema.graphql', async () => {
  // inputValueDeprecation: the deprecated input fields (modelIds, modelId, id) are part of the schema.
  const res = await gql(ADMIN).request(getIntrospectionQuery({ inputValueDeprecation: true }));
  // getIntrospectionQuery() does not ask for the schema's own description: compare without it.
  const parsed = buildSchema(readFileSync(process.env.ARKIV_SCHEMA, 'utf8'));
  const file = printSchema(lexicographicSortSchema(new GraphQLSchema({ ...parsed.toConfig(), description: undefined })));
  // gqlgen also announces @defer, which it executes; schema.graphql does not declare it.
  const client = buildClientSchema(res).toConfig();
  const declared = new Set(parsed.getDirectives().map((d) => d.name));
  const served = printSchema(lexicographicSortSchema(new GraphQLSchema({
    ...client, directives: client.directives.filter((d) => declared.has(d.name)),
  })));
  assert.equal(served, file);
});

test('GraphQL over HTTP', async () => {
  const get = await fetch(`${URL_}?query=${encodeURIComponent('mutation { revokeApiKey(id: "x") { id } }')}`, { headers: { Authorization: `Bearer ${ADMIN}` } });
  assert.equal(get.status, 405);
  const recording = await fetch(`${URL_}?query=${encodeURIComponent('{ auditLog(justification: "secret reason") { edges { node { id } } } }')}`, { headers: { Authorization: `Bearer ${ADMIN}` } });
  assert.equal(recording.status, 405);
  const text = await fetch(URL_, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: '{ version }' });
  assert.equal(text.status, 415);
  const invalid = await fetch(URL_, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ query: '{ nope }' }) });
  assert.equal(invalid.status, 200);
  const body = await invalid.json();
  assert.ok(!('data' in body), 'a request error has no data key');
  const strict = await fetch(URL_, { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/graphql-response+json' }, body: JSON.stringify({ query: '{ nope }' }) });
  assert.equal(strict.status, 400);
  assert.equal(get.headers.get('cache-control'), 'no-store');
});

test('UNAUTHENTICATED has one shape', async () => {
  for (const headers of [{}, { Authorization: 'Bearer arkiv_not_a_key' }]) {
    const r = await fetch(URL_, { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/graphql-response+json', ...headers }, body: JSON.stringify({ query: '{ me { id } }' }) });
    assert.equal(r.status, 401);
    const body = await r.json();
    assert.equal(body.errors[0].extensions.code, 'UNAUTHENTICATED');
  }
  await assert.rejects(gql('arkiv_not_a_key').request('{ me { id } }'), (e) => e instanceof ClientError && e.response.errors[0].extensions.code === 'UNAUTHENTICATED');
});

test("Apollo's persisted-query link falls back to the query text", async () => {
  const { createHash } = await import('node:crypto');
  const link = createPersistedQueryLink({ sha256: (q) => createHash('sha256').update(q).digest('hex') })
    .concat(new apollo.HttpLink({ uri: URL_, fetch, headers: { Authorization: `Bearer ${ADMIN}` } }));
  const client = new apollo.ApolloClient({ link, cache: new apollo.InMemoryCache() });
  const r = await client.query({ query: apollo.gql`{ version }` });
  assert.equal(r.data.version, 'test');
});

test('schema.graphql has no breaking change against the baseline', () => {
  const bin = new URL('./node_modules/.bin/graphql-inspector', import.meta.url).pathname;
  execFileSync(bin, ['diff', process.env.ARKIV_BASELINE, process.env.ARKIV_SCHEMA], { stdio: 'inherit' });
});

// mutate runs a mutation returning MutationResult and waits until its position is readable.
async function mutate(query, variables) {
  const r = await gql(ADMIN).request(query, variables);
  const res = Object.values(r)[0];
  await gql(ADMIN).request(`query($p: String) { me(consistentAt: $p) { id } }`, { p: res.position });
  return res;
}

test("Apollo's cache keeps a user's memberships of two spaces apart", async () => {
  const spaces = [];
  for (const role of ['VIEWER', 'EDITOR']) {
    const sp = await mutate(`mutation($in: CreateSpaceInput!) { createSpace(input: $in) { id position } }`,
      { in: { name: `Cache ${role}`, classification: 'INTERNAL' } });
    await mutate(`mutation($in: AddSpaceMemberInput!) { addSpaceMember(input: $in) { id position } }`,
      { in: { spaceId: sp.id, userId: USER_ID, role } });
    spaces.push(sp.id);
  }
  const client = new apollo.ApolloClient({
    link: new apollo.HttpLink({ uri: URL_, fetch, headers: { Authorization: `Bearer ${ADMIN}` } }),
    cache: new apollo.InMemoryCache(),
  });
  const q = apollo.gql`query($id: ID!) { space(id: $id) { id memberConnection { edges { node { id userId spaceId role } } } } }`;
  for (const id of spaces) await client.query({ query: q, variables: { id } });
  const cache = client.cache.extract();
  const mine = Object.values(cache).filter((e) => e.__typename === 'Access' && e.userId === USER_ID);
  assert.deepEqual(mine.map((e) => e.role).sort(), ['EDITOR', 'VIEWER'], JSON.stringify(cache));
  assert.notEqual(mine[0].id, mine[1].id);

  // node(id:) lands on the same cache entry as the typed field; a mutation's payload updates it.
  const viaNode = await client.query({
    query: apollo.gql`query($id: ID!) { node(id: $id) { id ... on Access { role } } }`,
    variables: { id: mine[0].id },
  });
  assert.equal(viaNode.data.node.role, mine[0].role);
  await client.mutate({
    mutation: apollo.gql`mutation($in: ChangeSpaceRoleInput!) { changeSpaceRole(input: $in) { id position node { id ... on Access { role } } } }`,
    variables: { in: { spaceId: spaces[0], userId: USER_ID, role: 'ADMIN' } },
  });
  const after = client.cache.extract();
  const entry = Object.values(after).find((e) => e.__typename === 'Access' && e.userId === USER_ID && e.spaceId === spaces[0]);
  assert.equal(entry.role, 'ADMIN', 'the payload updated the cached membership without a refetch');
  const other = Object.values(after).find((e) => e.__typename === 'Access' && e.userId === USER_ID && e.spaceId === spaces[1]);
  assert.equal(other.role, 'EDITOR');
});

test('node(id:) answers null for an id it does not show', async () => {
  const r = await gql(ADMIN).request(`query($id: ID!) { node(id: $id) { id } }`, { id: '00000000-0000-4000-8000-000000000000' });
  assert.equal(r.node, null);
  const me = await gql(ADMIN).request(`{ me { id } }`);
  const again = await gql(ADMIN).request(`query($id: ID!) { node(id: $id) { __typename id } }`, { id: me.me.id });
  assert.deepEqual(again.node, { __typename: 'User', id: me.me.id });
});

test('graphql-schema-linter finds every description and the Relay shapes', () => {
  const bin = new URL('./node_modules/.bin/graphql-schema-linter', import.meta.url).pathname;
  const rules = ['types-have-descriptions', 'fields-have-descriptions', 'arguments-have-descriptions',
    'input-object-values-have-descriptions', 'enum-values-have-descriptions',
    'relay-connection-types-spec', 'relay-connection-arguments-spec', 'relay-page-info-spec'];
  execFileSync(bin, ['--rules', rules.join(','), process.env.ARKIV_SCHEMA], { stdio: 'inherit' });
});
