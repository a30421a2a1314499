// The chat page of apps/chat.so in a real browser: headless Chromium,
// driven by playwright-core. Starts greenserve (a master and two workers,
// so tabs meet across the bus) with chat.so on a free port, opens the page in two tabs, types a
// message in one and waits for it in the other: over EventSource, over
// forced long-poll, with one tab of each, and across a reload (SIGHUP),
// whose draining worker sends the tabs to the new one. Exits non-zero on
// the first failure.
//
//     make test-e2e            (or: node tests/e2e/chat.test.mjs, after make
//                               and npm install in tests/e2e)
// GS_BUILD picks the build directory (default build); CHROMIUM the browser.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const build = resolve(root, process.env.GS_BUILD || 'build');
const browserPath = process.env.CHROMIUM || '/usr/bin/chromium';
const WAIT_MS = 10000;

let passed = 0;
function ok(what) {
  passed++;
  console.log(`ok ${passed} - ${what}`);
}

// greenserve on 127.0.0.1:0, a master and two workers; `port` resolves
// once its log says where it listens.
function startServer() {
  const server = spawn(join(build, 'greenserve'),
    ['--workers', '2', '--bind', '127.0.0.1:0', `/chat=${join(build, 'apps', 'chat.so')}`],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const port = new Promise((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`greenserve did not listen:\n${log}`)), 5000);
    server.stderr.on('data', (chunk) => {
      log += chunk;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)\//.exec(log);
      if (m) {
        clearTimeout(timer);
        resolvePort(Number(m[1]));
      }
    });
    server.on('exit', (code) => reject(new Error(`greenserve exited (${code}):\n${log}`)));
  });
  return { server, port, log: () => log };
}

// Resolves once the log matches re (a /g one) n times, checking every 50 ms.
async function logShows(log, re, what, n = 1) {
  for (const end = Date.now() + WAIT_MS; (log().match(re) || []).length < n;)
    if (Date.now() > end)
      throw new Error(`no "${what}" in greenserve's log`);
    else
      await new Promise((r) => setTimeout(r, 50));
}

// Stop exactly the server started, SIGKILL past 5 s.
async function stopServer(server) {
  if (server.exitCode !== null || server.signalCode !== null)
    return;
  const exited = new Promise((r) => server.once('exit', r));
  server.kill('SIGTERM');
  const timer = setTimeout(() => server.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

async function launchBrowser(profile) {
  return chromium.launchPersistentContext(profile, {
    executablePath: browserPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// A tab on the chat page, once it says it is live on the transport.
async function openTab(context, url, transport, errors) {
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(`${url}: ${e.message}`));
  await page.goto(url);
  await page.waitForFunction(
    (t) => document.body.dataset.transport === t &&
      document.getElementById('status').textContent.startsWith('live'),
    transport, { timeout: WAIT_MS });
  return page;
}

// The messages a tab shows, as text.
function shown(page) {
  return page.$$eval('#log li[data-id]', (items) => items.map((li) => li.textContent));
}

async function waitShown(page, text) {
  await page.waitForFunction(
    (t) => [...document.querySelectorAll('#log li[data-id]')].some((li) => li.textContent === t),
    text, { timeout: WAIT_MS });
}

async function say(page, text) {
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
}

// Two tabs on one room; a line typed in each shows up once in both.
async function conversation(context, base, room, transports, errors) {
  const url = (t) => `${base}/chat/?room=${room}${t === 'poll' ? '&transport=poll' : ''}`;
  const a = await openTab(context, url(transports[0]), transports[0], errors);
  const b = await openTab(context, url(transports[1]), transports[1], errors);
  const label = `${transports[0]} -> ${transports[1]}`;
  // Markup, quotes, a backslash and non-ASCII: shown as typed, never parsed.
  const first = `hello from A <b>not bold</b> "quoted" \\ é 😀 ${Date.now()}`;
  await say(a, first);
  await waitShown(b, first);
  ok(`${label}: a line typed in tab A appears in tab B`);
  const reply = `reply from B ${Date.now()}`;
  await say(b, reply);
  await waitShown(a, reply);
  ok(`${label}: the reply typed in tab B appears in tab A`);
  for (const [page, name] of [[a, 'A'], [b, 'B']]) {
    await waitShown(page, reply);
    const lines = await shown(page);
    if (lines.filter((l) => l === first).length !== 1 || lines.filter((l) => l === reply).length !== 1)
      throw new Error(`tab ${name} (${label}) shows ${JSON.stringify(lines)}`);
    if (await page.$('#log b'))
      throw new Error(`tab ${name} (${label}) rendered a message as HTML`);
  }
  ok(`${label}: each tab shows both lines once, as text`);
  return [a, b];
}

async function closeTabs(tabs) {
  for (const t of tabs)
    await t.close();
}

// SIGHUP: a new worker starts and the old one drains, ending its event
// streams with a retry: hint and answering its long-polls at once. Both
// tabs come back on their own, to the new worker.
async function acrossReload(server, log, tabs) {
  server.kill('SIGHUP');
  await logShows(log, /generation 2 ready/g, 'generation 2 ready');
  await logShows(log, /worker \d+ \(generation 1\) stopped/g, 'generation 1 stopped', 2);
  ok('SIGHUP: the old workers drained and stopped, though both tabs were connected to them');
  const [a, b] = tabs;
  const after = `after the reload ${Date.now()}`;
  await say(a, after);
  await waitShown(b, after);
  const back = `and back ${Date.now()}`;
  await say(b, back);
  await waitShown(a, back);
  ok('after the reload both tabs, EventSource and long-poll, reconnected and still talk');
}

async function main() {
  const { server, port, log } = startServer();
  const profile = mkdtempSync(join(tmpdir(), 'gs-e2e-chromium-'));
  let context;
  try {
    const base = `http://127.0.0.1:${await port}`;
    ok(`greenserve serves chat.so at ${base}/chat/`);
    context = await launchBrowser(profile);
    const errors = [];
    await closeTabs(await conversation(context, base, 'sse', ['events', 'events'], errors));
    await closeTabs(await conversation(context, base, 'poll', ['poll', 'poll'], errors));
    const mixed = await conversation(context, base, 'mixed', ['events', 'poll'], errors);
    await acrossReload(server, log, mixed);
    await closeTabs(mixed);
    if (errors.length)
      throw new Error(`errors in the page:\n${errors.join('\n')}`);
    ok('no script error in any tab');
    console.log(`${passed} passed, 0 failed`);
  } catch (e) {
    console.error(`not ok - ${e.message}`);
    if (!/greenserve/.test(e.message))
      console.error(`greenserve's log:\n${log()}`);
    console.log(`${passed} passed, 1 failed`);
    process.exitCode = 1;
  } finally {
    if (context)
      await context.close().catch(() => {});
    await stopServer(server);
    rmSync(profile, { recursive: true, force: true });
  }
}

await main();
