// A checking proxy in front of a local AWS service (s3rver, dynalite, which
// do not verify AWS Signature Version 4 themselves): every request's
// signature is verified against the secret of its access key, then the
// request goes on unchanged to the service. Each request adds one JSON line
// to LOG: {method, path, service, key, signed_headers, session_token,
// verdict} (verdict "ok" or why not). A request that fails the check gets
// 403 SignatureDoesNotMatch and never reaches the service.
// Before listening it checks itself against AWS's documented example (the
// S3 "GET Object" example of the Signature Version 4 documentation).
// Usage: node sigv4-proxy.mjs PORTFILE UPSTREAM_PORT LOG KEY=SECRET...
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';

const [portFile, upstreamPort, logFile, ...pairs] = process.argv.slice(2);
const secrets = new Map(pairs.map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]));

const sha256 = (data) => crypto.createHash('sha256').update(data).digest('hex');
const hmac = (key, data) => crypto.createHmac('sha256', key).update(data).digest();

// RFC 3986 encoding as SigV4 wants it
function encode(s) {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

// The signature of a request; returns {signature, scope parts} or throws.
export function sign({ method, rawPath, query, headers, signedHeaders, payloadHash, amzDate, scope, secret }) {
  const canonicalQuery = [...query]
    .map(([k, v]) => [encode(k), encode(v)])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonicalHeaders = signedHeaders
    .map((h) => {
      const v = headers[h];
      if (v === undefined) throw new Error(`signed header ${h} is missing`);
      return `${h}:${String(v).trim().replace(/\s+/g, ' ')}\n`;
    })
    .join('');
  const canonical = [method, rawPath, canonicalQuery, canonicalHeaders, signedHeaders.join(';'), payloadHash].join('\n');
  const [date, region, service] = scope;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, `${date}/${region}/${service}/aws4_request`, sha256(canonical)].join('\n');
  let key = hmac('AWS4' + secret, date);
  key = hmac(key, region);
  key = hmac(key, service);
  key = hmac(key, 'aws4_request');
  return hmac(key, stringToSign).toString('hex');
}

// AWS's documented example must come out right, or this proxy proves nothing
const example = sign({
  method: 'GET',
  rawPath: '/test.txt',
  query: [],
  headers: {
    host: 'examplebucket.s3.amazonaws.com',
    range: 'bytes=0-9',
    'x-amz-content-sha256': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    'x-amz-date': '20130524T000000Z',
  },
  signedHeaders: ['host', 'range', 'x-amz-content-sha256', 'x-amz-date'],
  payloadHash: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  amzDate: '20130524T000000Z',
  scope: ['20130524', 'us-east-1', 's3'],
  secret: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
});
if (example !== 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41') {
  console.error(`sigv4-proxy: self-check failed (${example})`);
  process.exit(1);
}

function verify(req, body) {
  const auth = req.headers.authorization || '';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  const entry = { key: m ? m[1] : null, service: m ? m[4] : null, signed_headers: m ? m[5] : null };
  if (!m) return { ...entry, verdict: 'no SigV4 Authorization header' };
  const [, key, date, region, service, signedList, signature] = m;
  const secret = secrets.get(key);
  if (secret === undefined) return { ...entry, verdict: `unknown access key ${key}` };
  const amzDate = req.headers['x-amz-date'] || '';
  if (!/^\d{8}T\d{6}Z$/.test(amzDate) || amzDate.slice(0, 8) !== date) return { ...entry, verdict: 'bad X-Amz-Date' };
  const when = Date.UTC(+amzDate.slice(0, 4), +amzDate.slice(4, 6) - 1, +amzDate.slice(6, 8),
    +amzDate.slice(9, 11), +amzDate.slice(11, 13), +amzDate.slice(13, 15));
  if (Math.abs(Date.now() - when) > 15 * 60 * 1000) return { ...entry, verdict: 'request time too skewed' };
  const signedHeaders = signedList.split(';');
  for (const must of ['host', 'x-amz-date']) {
    if (!signedHeaders.includes(must)) return { ...entry, verdict: `${must} not signed` };
  }
  if (req.headers['x-amz-security-token'] !== undefined && !signedHeaders.includes('x-amz-security-token')) {
    return { ...entry, verdict: 'session token sent but not signed' };
  }
  let payloadHash = req.headers['x-amz-content-sha256'];
  if (payloadHash === undefined) payloadHash = sha256(body);  // DynamoDB
  else if (/^[0-9a-f]{64}$/.test(payloadHash) && payloadHash !== sha256(body)) {
    return { ...entry, verdict: 'x-amz-content-sha256 does not match the body' };
  }
  const q = req.url.indexOf('?');
  const rawPath = q < 0 ? req.url : req.url.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : req.url.slice(q + 1));
  let expected;
  try {
    expected = sign({ method: req.method, rawPath, query, headers: req.headers, signedHeaders, payloadHash,
      amzDate, scope: [date, region, service], secret });
  } catch (e) {
    return { ...entry, verdict: e.message };
  }
  if (!crypto.timingSafeEqual(Buffer.from(expected), Buffer.from(signature))) {
    return { ...entry, verdict: 'signature does not match' };
  }
  return { ...entry, verdict: 'ok' };
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const result = verify(req, body);
    fs.appendFileSync(logFile, JSON.stringify({
      method: req.method,
      path: req.url,
      service: result.service,
      key: result.key,
      signed_headers: result.signed_headers,
      session_token: req.headers['x-amz-security-token'] || null,
      verdict: result.verdict,
    }) + '\n');
    if (result.verdict !== 'ok') {
      const text = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code><Message>${result.verdict}</Message></Error>`;
      res.writeHead(403, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(text) });
      return res.end(text);
    }
    const up = http.request({ host: '127.0.0.1', port: Number(upstreamPort), method: req.method, path: req.url,
      headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', (e) => {
      res.writeHead(502);
      res.end(String(e));
    });
    up.end(body);
  });
});

server.listen(0, '127.0.0.1', () => {
  fs.writeFileSync(portFile, String(server.address().port));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
