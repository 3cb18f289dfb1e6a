// A stand-in for the EC2 instance metadata service, version 2 only (the
// routes an instance role's credentials need), on loopback:
//   PUT /latest/api/token      needs X-aws-ec2-metadata-token-ttl-seconds
//                              (1..21600, else 400); refuses X-Forwarded-For
//                              (403), as IMDS does; answers a session token
//   GET /latest/meta-data/iam/security-credentials/        the role's name
//   GET /latest/meta-data/iam/security-credentials/<role>  its credentials
// Every GET needs a valid X-aws-ec2-metadata-token (401 without, as IMDSv2).
// The test steers it through /_standin/ (never part of IMDS):
//   POST /_standin/set?access_key=&secret=&expires_in=&role=  the next keys
//   POST /_standin/forget-tokens   every session token becomes invalid
//   GET  /_standin/stats           counts (JSON)
// Usage: node imds.mjs PORTFILE   (writes the port it listens on there)
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';

const state = {
  role: 'lablink-test-role',
  accessKey: 'S3RVER',
  secret: 'S3RVER',
  expiresIn: 7200,
  tokens: new Map(),  // token -> expiry (ms)
  served: 0,          // credentials documents served (each a new session token)
  stats: { token_puts: 0, role_gets: 0, creds_gets: 0, refused: 0, forwarded: 0 },
};

function send(res, status, body, type = 'text/plain') {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function tokenValid(req) {
  const token = req.headers['x-aws-ec2-metadata-token'];
  const until = token && state.tokens.get(token);
  return until !== undefined && until > Date.now();
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://imds');
  const path = url.pathname;
  req.resume();
  if (path.startsWith('/_standin/')) {
    if (path === '/_standin/set' && req.method === 'POST') {
      const q = url.searchParams;
      if (q.has('access_key')) state.accessKey = q.get('access_key');
      if (q.has('secret')) state.secret = q.get('secret');
      if (q.has('expires_in')) state.expiresIn = Number(q.get('expires_in'));
      if (q.has('role')) state.role = q.get('role');
      return send(res, 200, 'ok');
    }
    if (path === '/_standin/forget-tokens' && req.method === 'POST') {
      state.tokens.clear();
      return send(res, 200, 'ok');
    }
    if (path === '/_standin/stats') return send(res, 200, JSON.stringify(state.stats), 'application/json');
    return send(res, 404, 'no such stand-in route');
  }
  if (req.headers['x-forwarded-for']) {
    state.stats.forwarded++;
    return send(res, 403, 'Forbidden');
  }
  if (path === '/latest/api/token') {
    if (req.method !== 'PUT') return send(res, 405, 'Method Not Allowed');
    const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21600) return send(res, 400, 'Bad Request');
    const token = crypto.randomBytes(40).toString('base64url');
    state.tokens.set(token, Date.now() + ttl * 1000);
    state.stats.token_puts++;
    return send(res, 200, token);
  }
  if (req.method !== 'GET') return send(res, 405, 'Method Not Allowed');
  if (!tokenValid(req)) {
    state.stats.refused++;
    return send(res, 401, 'Unauthorized');
  }
  const base = '/latest/meta-data/iam/security-credentials/';
  if (path === base) {
    state.stats.role_gets++;
    return send(res, 200, state.role);
  }
  if (path === base + state.role) {
    state.stats.creds_gets++;
    state.served++;
    const expiration = new Date(Date.now() + state.expiresIn * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
    return send(res, 200, JSON.stringify({
      Code: 'Success',
      LastUpdated: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      Type: 'AWS-HMAC',
      AccessKeyId: state.accessKey,
      SecretAccessKey: state.secret,
      Token: `standin-session-token-${state.served}-${crypto.randomBytes(24).toString('base64')}`,
      Expiration: expiration,
    }, null, 2), 'text/plain');
  }
  return send(res, 404, 'Not Found');
});

server.listen(0, '127.0.0.1', () => {
  fs.writeFileSync(process.argv[2], String(server.address().port));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
