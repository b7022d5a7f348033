// The demo page with JWT authentication on: a pasted token goes into the Socket.IO handshake
// (`auth.token`) and the page signs in as the token's subject; a bad token is refused.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, test } from 'node:test';

import { launchBrowser, startServer } from './lib/env.mjs';

const SECRET = 'browser-test-secret';

function jwt(claims, secret = SECRET) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

let server;
let browser;

before(async () => {
  server = await startServer({ trustClients: false, extraArgs: ['--jwt-secret', SECRET] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function connectWithToken(token) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${server.url}/`);
  await page.locator('details.token summary').click();
  await page.locator('#token').fill(token);
  await page.locator('#token-form button[type="submit"]').click();
  return { context, page };
}

test('a pasted JWT signs in as its subject', { timeout: 30_000 }, async () => {
  const { context, page } = await connectWithToken(jwt({ sub: '2', exp: Math.floor(Date.now() / 1000) + 300 }));
  await page.locator('#conn[data-state="online"]').waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('#me > span').textContent(), 'Bob');
  await page.locator('#conversations [data-conversation="e2e-team"]').waitFor();
  assert.equal(await page.evaluate(() => window.__huddle.me.id), '2');
  await context.close();
});

test('a token with the wrong signature is refused', { timeout: 30_000 }, async () => {
  const { context, page } = await connectWithToken(jwt({ sub: '2', exp: Math.floor(Date.now() / 1000) + 300 }, 'wrong'));
  await page.locator('.toast.error', { hasText: 'Cannot connect' }).waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('#conn').getAttribute('data-state'), 'offline');
  await context.close();
});
