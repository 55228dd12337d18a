// panva's oidc-provider (an OpenID Certified implementation) in one of the shapes real
// providers take, for the portal's login tests. Started by tests/support/panva.py:
//
//   node tests/support/oidc_provider.mjs '<profile JSON>'
//
// It listens on a free loopback port and prints one line, `issuer <url>`, once it answers.
// The profile (see PROFILES in panva.py) says which provider it imitates: where the email
// claims go (ID token, userinfo or both), whether there is a userinfo or end-session
// endpoint, a Cognito-style /logout, the token endpoint's client authentication, the ID
// token's algorithm, an issuer with a trailing slash, and a clock running ahead.
//
// The login page asks only for a login name (the subject); consent is implied. A few
// test-only endpoints under /__test/ change the provider between requests:
//   PUT  /__test/users/<sub>   {"id_token": {...}, "userinfo": {...}, "both": {...}}
//   POST /__test/rotate        a new signing key under a new kid; the old one is gone
//   POST /__test/outage        {"path": "/token", "status": 502}: that endpoint answers with
//                              this status and a gateway's HTML page until {"path": null}
//   GET  /__test/client-assertions  the header and claims of every private_key_jwt client
//                              assertion the token endpoint verified, oldest first
import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';

import Provider from 'oidc-provider';

const profile = JSON.parse(process.argv[2] || '{}');

if (profile.clock_offset_seconds) {
  // The whole provider runs ahead (or behind) of the machine's clock.
  const realNow = Date.now.bind(Date);
  Date.now = () => realNow() + profile.clock_offset_seconds * 1000;
}

const users = new Map(Object.entries(profile.users || {}));
let keyNumber = 0;

function newSigningKey() {
  keyNumber += 1;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: `key-${keyNumber}`, use: 'sig', alg: 'RS256' };
}

function claimsFor(sub, use) {
  const user = users.get(sub) || {};
  const specific = use === 'id_token' ? user.id_token : user.userinfo;
  return { sub, ...(user.both || {}), ...(specific || {}) };
}

function page(title, body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head>`
    + `<body><main><h1>${title}</h1>${body}</main></body></html>`;
}

function buildProvider(issuer, keys) {
  const client = profile.client;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: client.client_id,
      client_secret: client.client_secret,
      redirect_uris: client.redirect_uris,
      post_logout_redirect_uris: client.post_logout_redirect_uris,
      token_endpoint_auth_method: client.token_endpoint_auth_method || 'client_secret_basic',
      id_token_signed_response_alg: client.id_token_signed_response_alg || 'RS256',
      // private_key_jwt: the portal's public keys, as `portal oidc-public-jwk` prints them.
      ...(client.jwks ? { jwks: client.jwks } : {}),
    }],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    async assertJwtClientAuthClaimsAndHeader(ctx, claims, header) {
      state.assertions.push({ header, claims });
    },
    enabledJWA: { idTokenSigningAlgValues: ['RS256', 'ES256', 'HS256'] },
    jwks: { keys },
    cookies: { keys: ['panva-profile-cookie-key'] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified', 'xms_edov'],
      profile: ['name'],
    },
    conformIdTokenClaims: !profile.claims_in_id_token,
    clockTolerance: 0,
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: profile.userinfo !== false },
      rpInitiatedLogout: {
        enabled: profile.end_session !== false,
        async logoutSource(ctx, form) {
          ctx.body = page('Sign out of the test provider', `${form}
            <button type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>`);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.body = page('Signed out', '<p>You are signed out of the test provider.</p>');
        },
      },
      resourceIndicators: { enabled: false },
    },
    pkce: { required: () => true },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, sub) {
      return { accountId: sub, claims: async (use) => claimsFor(sub, use) };
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('Provider error', `<p id="error">${out.error}: ${out.error_description || ''}</p>`);
    },
  });
  provider.proxy = false;
  return provider;
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString());
}

async function finishInteraction(provider, req, res, accountId) {
  const details = await provider.interactionDetails(req, res);
  const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope);
  const grantId = await grant.save();
  const result = { login: { accountId }, consent: { grantId } };
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
}

async function interaction(provider, req, res, url) {
  const [, , uid, step] = url.pathname.split('/');
  const details = await provider.interactionDetails(req, res);
  if (req.method === 'POST' && step === 'login') {
    const form = await readForm(req);
    const login = (form.get('login') || '').trim();
    if (!login) {
      res.writeHead(400, { 'content-type': 'text/html' });
      res.end(page('Sign in', '<p>Enter a login name.</p>'));
      return;
    }
    await finishInteraction(provider, req, res, login);
    return;
  }
  if (details.prompt.name === 'consent' && details.session?.accountId) {
    // Already signed in here: consent is implied, as at every provider the portal meets.
    await finishInteraction(provider, req, res, details.session.accountId);
    return;
  }
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(page('Sign in to the test provider', `
    <form method="post" action="/interaction/${uid}/login">
      <label>Login <input name="login" autocomplete="username" autofocus></label>
      <button type="submit">Sign in</button>
    </form>`));
}

// Amazon Cognito's /logout: client_id and logout_uri (one of the app client's sign-out
// URLs), else an error page and the session stays.
function cognitoLogout(res, url) {
  const client = profile.client;
  const logoutUri = url.searchParams.get('logout_uri');
  if (url.searchParams.get('client_id') !== client.client_id
      || !client.post_logout_redirect_uris.includes(logoutUri)) {
    res.writeHead(400, { 'content-type': 'text/html' });
    res.end(page('An error was encountered', '<p>Required String parameter \'redirect_uri\' is not present</p>'));
    return;
  }
  const gone = 'Thu, 01 Jan 1970 00:00:00 GMT';
  res.writeHead(302, {
    location: logoutUri,
    'set-cookie': ['_session', '_session.sig', '_session.legacy', '_session.legacy.sig']
      .map((name) => `${name}=; path=/; expires=${gone}`),
  });
  res.end();
}

async function testControl(req, res, url, state) {
  if (req.method === 'PUT' && url.pathname.startsWith('/__test/users/')) {
    const sub = decodeURIComponent(url.pathname.slice('/__test/users/'.length));
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    users.set(sub, JSON.parse(Buffer.concat(chunks).toString() || '{}'));
    res.writeHead(204);
    res.end();
    return;
  }
  if (req.method === 'POST' && url.pathname === '/__test/rotate') {
    state.keys = [newSigningKey()];
    state.provider = buildProvider(state.issuer, state.keys);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kid: state.keys[0].kid }));
    return;
  }
  if (req.method === 'GET' && url.pathname === '/__test/client-assertions') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(state.assertions));
    return;
  }
  if (req.method === 'POST' && url.pathname === '/__test/outage') {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    state.outage = JSON.parse(Buffer.concat(chunks).toString() || '{}');
    res.writeHead(204);
    res.end();
    return;
  }
  res.writeHead(404);
  res.end();
}

const state = {
  issuer: '', keys: [newSigningKey()], provider: null, outage: {}, assertions: [],
};
const prefix = profile.issuer_path || '';

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  try {
    if (url.pathname.startsWith('/__test/')) {
      await testControl(req, res, url, state);
    } else if (state.outage.path && url.pathname === prefix.replace(/\/$/, '') + state.outage.path) {
      // What a load balancer in front of a provider answers while the provider is down.
      res.writeHead(state.outage.status, { 'content-type': 'text/html' });
      res.end(page(`Error ${state.outage.status}`, '<p>The upstream server is not answering.</p>'));
    } else if (url.pathname.startsWith('/interaction/')) {
      await interaction(state.provider, req, res, url);
    } else if (profile.strict_client_secret_post && url.pathname.endsWith('/token')
               && req.headers.authorization) {
      // oidc-provider takes Basic and post interchangeably (RFC 6749 2.3.1 asks every
      // server to accept Basic); LINE documents client_secret_post only, and strict
      // providers refuse Basic: so does this profile.
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Basic' });
      res.end(JSON.stringify({ error: 'invalid_client', error_description: 'client_secret_post is required' }));
    } else if (profile.cognito_logout && url.pathname === '/logout') {
      cognitoLogout(res, url);
    } else {
      state.provider.callback()(req, res);
    }
  } catch (error) {
    if (!res.headersSent) {
      res.writeHead(500, { 'content-type': 'text/plain' });
    }
    res.end(String(error));
  }
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  state.issuer = `http://127.0.0.1:${port}${prefix}`;
  state.provider = buildProvider(state.issuer, state.keys);
  process.stdout.write(`issuer ${state.issuer}\n`);
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
