// DTLS-SRTP with real Chromium, for both SRTP profiles Chromium negotiates. The worker links
// libsrtp 2.5 behind a libsrtp 3 compatibility layer and carries a DtlsTransport patch
// (docs/building.md), so both profiles are checked end to end with real audio and video.
//
// Which profile is used depends on who is the DTLS server, since each side prefers its own
// list: mediasoup (first choice AEAD_AES_256_GCM) is the DTLS server in a normal call, as
// mediasoup-client makes the browser the DTLS client. Chromium puts AES_CM_128_HMAC_SHA1_80
// first, so it is used when the browser is the DTLS server: the second test rewrites the
// transport parameters the page receives to `dtlsParameters.role = "client"`, which
// mediasoup-client answers by taking the server role (the worker then runs DTLS as client),
// and makes the page's receive-transport answers say so (`answerAsDtlsServer`). Native
// libwebrtc (the Flutter clients) leaves GCM off by default, so AES_CM_128_HMAC_SHA1_80 is
// what those clients negotiate with the worker as DTLS server.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { dumpLogs, launchBrowser, openUser, startServer, waitForMedia } from './lib/env.mjs';

const TEAM = 'e2e-team'; // Alice (1), Bob (2), Carol (3)

// getStats() `srtpCipher` names (Chromium uses BoringSSL's, RFC 8827 those of the IANA registry).
const GCM_256 = ['SRTP_AEAD_AES_256_GCM', 'AEAD_AES_256_GCM'];
const CM_SHA1_80 = ['SRTP_AES128_CM_SHA1_80', 'SRTP_AES128_CM_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_80'];

let server;
let browser;
let users = [];

/** Runs `fn`; on failure saves screenshots and logs; always closes everything. */
async function guarded(fn) {
  try {
    await fn();
  } catch (e) {
    for (const u of users) await u.screenshot(`FAILED-srtp-${u.name}.png`).catch(() => {});
    process.stderr.write(`browser test logs: ${dumpLogs('FAILED-srtp-logs.txt', server, users)}\n`);
    throw e;
  } finally {
    for (const u of users) await u.context.close().catch(() => {});
    users = [];
    await browser?.close();
    await server?.stop();
    browser = undefined;
    server = undefined;
  }
}

/** Server-to-page signalling with every DTLS role "auto" turned into "client". */
const forceServerDtlsRoleClient = (text) => text.replaceAll('"role":"auto"', '"role":"client"');

/**
 * Makes the page the DTLS server on its receive transports too. With a remote role "client",
 * mediasoup-client reports the role "server" for every transport, but on a receive transport
 * it answers the server's offer (`a=setup:actpass`) with Chromium's own choice,
 * `a=setup:active`: both ends would then start DTLS as clients (the worker fails on the
 * page's ClientHello with "unexpected message"). The answer is rewritten to
 * `a=setup:passive`, what the role mediasoup-client reported says.
 */
function answerAsDtlsServer() {
  const createAnswer = RTCPeerConnection.prototype.createAnswer;
  RTCPeerConnection.prototype.createAnswer = async function (...args) {
    const answer = await createAnswer.apply(this, args);
    return { type: answer.type, sdp: answer.sdp.replaceAll('a=setup:active', 'a=setup:passive') };
  };
}

/** Rewrites the signalling of `context` (Socket.IO over WebSocket and over HTTP polling). */
async function rewriteSignalling(context) {
  await context.addInitScript(answerAsDtlsServer);
  await context.routeWebSocket(/\/socket\.io\//, (ws) => {
    const upstream = ws.connectToServer();
    ws.onMessage((message) => upstream.send(message));
    upstream.onMessage((message) => ws.send(typeof message === 'string' ? forceServerDtlsRoleClient(message) : message));
  });
  await context.route(/\/socket\.io\//, async (route) => {
    const response = await route.fetch();
    const body = await response.text();
    await route.fulfill({ response, body: forceServerDtlsRoleClient(body) });
  });
}

/** The `transport` stats of the page's send and receive transports (mediasoup-client). */
async function transportStats(user) {
  return user.page.evaluate(async () => {
    const call = window.__huddle.call;
    const out = {};
    for (const dir of ['send', 'recv']) {
      const report = await call[dir].getStats();
      report.forEach((s) => {
        if (s.type === 'transport') {
          out[dir] = { srtpCipher: s.srtpCipher, dtlsRole: s.dtlsRole, dtlsState: s.dtlsState, tlsVersion: s.tlsVersion };
        }
      });
    }
    return out;
  });
}

async function callAndCheck({ prepare, srtpCipher, dtlsRole }) {
  server = await startServer();
  browser = await launchBrowser();
  const [alice, bob] = await Promise.all([
    openUser(browser, server, 1, { name: 'alice', prepare }),
    openUser(browser, server, 2, { name: 'bob', prepare }),
  ]);
  users = [alice, bob];
  await alice.conversation(TEAM).locator('[data-action="start-video"]').click();
  await bob.page.locator('#ring:not([hidden])').waitFor({ timeout: 10_000 });
  await bob.page.locator('#ring-accept').click();
  const [aliceStats, bobStats] = await Promise.all([waitForMedia(alice, [2]), waitForMedia(bob, [1])]);
  const fromBob = aliceStats.remote.find((r) => r.userId === '2');
  const fromAlice = bobStats.remote.find((r) => r.userId === '1');
  assert.ok(fromBob.video.framesDecoded > 0 && fromBob.audio.packetsReceived > 0, JSON.stringify(fromBob));
  assert.ok(fromAlice.video.framesDecoded > 0 && fromAlice.audio.packetsReceived > 0, JSON.stringify(fromAlice));
  for (const user of users) {
    const stats = await transportStats(user);
    for (const dir of ['send', 'recv']) {
      assert.equal(stats[dir]?.dtlsState, 'connected', `${user.name} ${dir}: ${JSON.stringify(stats)}`);
      assert.ok(srtpCipher.includes(stats[dir].srtpCipher), `${user.name} ${dir}: ${JSON.stringify(stats)}`);
      assert.equal(stats[dir].dtlsRole, dtlsRole, `${user.name} ${dir}: ${JSON.stringify(stats)}`);
    }
  }
}

test('mediasoup as DTLS server: AEAD_AES_256_GCM, media both ways', { timeout: 90_000 }, async () => {
  await guarded(() => callAndCheck({ srtpCipher: GCM_256, dtlsRole: 'client' }));
});

test('Chromium as DTLS server: AES_CM_128_HMAC_SHA1_80, media both ways', { timeout: 90_000 }, async () => {
  await guarded(() => callAndCheck({ prepare: rewriteSignalling, srtpCipher: CM_SHA1_80, dtlsRole: 'server' }));
});
