// The browser test of MovieBook's web site (API.md, "Web pages"): real Chromium, driven by
// playwright-core, does what people do on the site — browse, sign up, log in, review, keep a
// watch list, administer the catalogue — and every page it sees must load nothing from another
// host, log no error, and pass axe-core with no serious or critical violation. Each page is
// photographed at desktop and phone widths.
//
// Plain Node (20+), no test framework: `node scripts/browser/site.test.mjs`, with
//   BASE_URL         the server (`http://127.0.0.1:PORT`), required
//   ADMIN_TOKEN      its admin token, required
//   BROWSER_MODULES  node_modules with playwright-core and axe-core (scripts/browser-setup
//                    prints it), required
//   DEPLOYMENT       names the screenshot folder: target/screenshots/<DEPLOYMENT>/ (default
//                    "embedded")
//   CHROMIUM         the browser (default /usr/bin/chromium; never a downloaded one)
// Exits 0 when every scenario passed, 1 when one failed (with what and where), 2 when it could
// not start. The data each scenario needs is made through the JSON API with names unique to the
// run, since the server may be shared with other tests.

import { createRequire } from 'node:module';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

/** How long a derived view (lists, search, scores) may take to show a write: the contract's
 * 2 s, with room for a slow debug build. */
const CONVERGE_MS = 5000;
/** How long one browser action may take before it counts as failed. */
const ACTION_TIMEOUT_MS = 15000;
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
/** axe-core impacts that fail a page. */
const FAILING_IMPACTS = new Set(['serious', 'critical']);
const XSS_COMMENT = '<b>bold</b><script>window.__xss=1</script>';

function usage(message) {
  console.error(`site.test: ${message}`);
  process.exit(2);
}

const BASE = (process.env.BASE_URL ?? '').trim().replace(/\/+$/, '');
const ADMIN_TOKEN = (process.env.ADMIN_TOKEN ?? '').trim();
const MODULES = (process.env.BROWSER_MODULES ?? '').trim();
const DEPLOYMENT = (process.env.DEPLOYMENT ?? 'embedded').trim();
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
if (!BASE) usage('BASE_URL is not set (the server to test, e.g. http://127.0.0.1:8080)');
if (!ADMIN_TOKEN) usage("ADMIN_TOKEN is not set (the server's admin token)");
if (!MODULES) usage('BROWSER_MODULES is not set: run scripts/browser-setup and use the directory it prints');
if (!/^[A-Za-z0-9_-]+$/.test(DEPLOYMENT)) usage(`DEPLOYMENT must be a plain name, not ${DEPLOYMENT}`);
const ORIGIN = new URL(BASE).origin;
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SHOTS = join(REPO, 'target', 'screenshots', DEPLOYMENT);

const requireModule = createRequire(join(resolve(MODULES), 'resolver.cjs'));
let chromium;
let axeSource;
try {
  ({ chromium } = requireModule('playwright-core'));
  axeSource = readFileSync(requireModule.resolve('axe-core/axe.min.js'), 'utf8');
} catch (error) {
  usage(`cannot load playwright-core and axe-core from ${MODULES} (run scripts/browser-setup): ${error.message}`);
}

/** A failure with a message that says what was expected and what was seen. */
class Failure extends Error {}

function check(condition, message) {
  if (!condition) throw new Failure(message);
}

function sleep(ms) {
  return new Promise((done) => setTimeout(done, ms));
}

/** Calls `attempt` until it returns something other than undefined, for up to
 * CONVERGE_MS; fails with `what` and the last thing `attempt` said (its thrown message). */
async function eventually(what, attempt) {
  const deadline = Date.now() + CONVERGE_MS;
  let last = 'nothing yet';
  for (;;) {
    try {
      const value = await attempt();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error.message;
    }
    if (Date.now() > deadline) throw new Failure(`${what}: not within ${CONVERGE_MS} ms (last: ${last})`);
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------
// The JSON API, for making test data and for checking what a page did.

async function api(method, path, { token, json, body, contentType } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (contentType) {
    headers['content-type'] = contentType;
  }
  const response = await fetch(`${BASE}/api/v1${path}`, { method, headers, body });
  const text = await response.text();
  let value = null;
  try {
    value = text ? JSON.parse(text) : null;
  } catch {
    value = text;
  }
  return { status: response.status, body: value };
}

/** `api`, failing unless the answer has status `expected`. */
async function apiOk(expected, method, path, options) {
  const answer = await api(method, path, options);
  check(
    answer.status === expected,
    `${method} /api/v1${path}: expected ${expected}, got ${answer.status}: ${JSON.stringify(answer.body)}`,
  );
  return answer.body;
}

/** A `width`×`height` RGB PNG (a gradient), built by hand: signature, IHDR, IDAT, IEND. */
function png(width, height) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc32 = (bytes) => {
    let c = 0xffffffff;
    for (const byte of bytes) c = crcTable[(c ^ byte) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const typed = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(typed));
    return Buffer.concat([length, typed, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8 bits per sample, RGB, deflate, no filter, no interlace
  const rows = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y += 1) {
    const row = y * (width * 3 + 1); // each row starts with filter type 0
    for (let x = 0; x < width; x += 1) {
      rows.set([(x * 255) / width, (y * 255) / height, 140].map(Math.round), row + 1 + x * 3);
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Unique to this run: names, titles, genres and e-mails carry it. */
const TAG = `bt${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const PASSWORD = 'correct horse battery';

async function signUpByApi(label) {
  const email = `${label}-${TAG}@example.com`;
  const name = `${label[0].toUpperCase()}${label.slice(1)} ${TAG}`;
  const user = await apiOk(201, 'POST', '/users', { json: { name, email, password: PASSWORD } });
  const login = await apiOk(200, 'POST', '/auth/token', { json: { email, password: PASSWORD } });
  return { id: user.id, name, email, token: login.access_token };
}

/** The catalogue the visitor scenarios browse: an actor with a photo, a movie with a poster,
 * that actor in its cast, a genre of its own, and one review; waits until every derived view
 * (search, genre, filmography, the reviewer's list, the score) shows it. */
async function makeCatalogue() {
  const genre = `genre-${TAG}`;
  const actor = await apiOk(201, 'POST', '/actors', {
    token: ADMIN_TOKEN,
    json: { name: `Ada Lumen ${TAG}`, date_of_birth: '1981-04-12', bio: 'Plays keepers of lights.' },
  });
  const movie = await apiOk(201, 'POST', '/movies', {
    token: ADMIN_TOKEN,
    json: {
      title: `The Lantern Keeper ${TAG}`,
      release_year: 2024,
      genres: [genre, 'drama'],
      actors: [{ actor_id: actor.id, role: 'Keeper' }],
      overview: 'A lighthouse keeper and the last ship of the season.',
    },
  });
  await apiOk(200, 'PUT', `/movies/${movie.id}/poster`, { token: ADMIN_TOKEN, contentType: 'image/png', body: png(240, 360) });
  await apiOk(200, 'PUT', `/actors/${actor.id}/photo`, { token: ADMIN_TOKEN, contentType: 'image/png', body: png(200, 260) });
  const reviewer = await signUpByApi('rita');
  await apiOk(201, 'POST', `/movies/${movie.id}/reviews`, {
    token: reviewer.token,
    json: { score: 9, comment: 'Quiet, patient and beautifully lit.' },
  });
  await eventually('the catalogue shows in search, genre, filmography, reviews and score', async () => {
    const found = await api('GET', `/movies?search=${encodeURIComponent(TAG)}&limit=100`);
    const inGenre = await api('GET', `/genres/${genre}/movies`);
    const films = await api('GET', `/actors/${actor.id}`);
    const reviews = await api('GET', `/users/${reviewer.id}`);
    const scored = await api('GET', `/movies/${movie.id}`);
    const waiting = [];
    if (!found.body?.items?.some((m) => m.id === movie.id)) waiting.push('search');
    if (!inGenre.body?.items?.some((m) => m.id === movie.id && m.poster)) waiting.push('genre list');
    if (!films.body?.movies?.some((m) => m.id === movie.id)) waiting.push('filmography');
    if (!reviews.body?.reviews?.some((r) => r.movie_id === movie.id)) waiting.push("reviewer's list");
    if (scored.body?.score == null || !scored.body?.actors?.[0]?.photo) waiting.push('score and cast photo');
    if (waiting.length) throw new Error(`waiting for ${waiting.join(', ')}`);
    return true;
  });
  return { genre, actor, movie, reviewer };
}

// ---------------------------------------------------------------------------------------
// Pages: what every page must satisfy, and the steps people take.

/** Watches a page for what no page may do: load from another host, log an error, throw.
 * What it sees goes to `page.problems` until the next `checkPage`, which judges it. */
function watch(page) {
  page.problems = [];
  /** The status of each document the page loaded, by address. */
  page.documents = new Map();
  page.on('response', (response) => {
    if (response.request().isNavigationRequest() && response.frame() === page.mainFrame()) {
      page.documents.set(response.url(), response.status());
    }
  });
  page.on('request', (request) => {
    const url = request.url();
    if (/^(data|blob|about):/.test(url)) return;
    if (new URL(url).origin !== ORIGIN) page.problems.push(`request to another host: ${request.method()} ${url}`);
  });
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const where = message.location()?.url ?? '';
    page.problems.push({ text: message.text(), where });
  });
  page.on('pageerror', (error) => page.problems.push(`uncaught error in the page: ${error.message}`));
}

/** What the page did wrong since the last look. Chromium logs a page answered with an error
 * status (a 404 page, a form sent back with 422) as a console error of that page's own address;
 * the scenarios assert those statuses themselves, so only other console errors count. Nor
 * does the site icon's: a browser asks for it at a moment of its own after the load, so
 * whether its error falls within a page's look is chance; the icon scenario asks for it. */
function takeProblems(page) {
  const problems = page.problems.flatMap((problem) => {
    if (typeof problem === 'string') return [problem];
    const status = problem.text.match(/^Failed to load resource: the server responded with a status of (\d+)/)?.[1];
    if (status && page.documents.get(problem.where) === Number(status)) return [];
    if (status && problem.where && new URL(problem.where).pathname === '/favicon.ico') return [];
    return [`console error: ${problem.text}${problem.where ? ` (${problem.where})` : ''}`];
  });
  page.problems = [];
  return problems;
}

/** What is wrong with the page's icon: the one it names (`<link rel=icon>`), else the
 * /favicon.ico that browsers ask every site for. */
async function iconProblems(page) {
  const declared = await page.evaluate(() => document.querySelector('link[rel~="icon"]')?.href ?? null);
  const icon = new URL(declared ?? '/favicon.ico', page.url());
  if (icon.origin !== ORIGIN) return [`the site icon is not on this server: ${icon.href}`];
  const answer = await page.request.get(icon.href);
  const type = answer.headers()['content-type'] ?? '';
  if (answer.status() === 200 && type.startsWith('image/')) return [];
  return [`the site icon ${icon.pathname} answers ${answer.status()} ${type} (browsers ask for it on every page and log an error)`];
}

/** The axe-core violations of the page with a failing impact, as readable lines. */
async function axeViolations(page) {
  // page.evaluate, not addScriptTag: the site's Content-Security-Policy (default-src 'self')
  // refuses an inline script tag, and the test must not weaken the policy it checks.
  const hasAxe = await page.evaluate(() => typeof window.axe === 'object');
  if (!hasAxe) await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${n.html.slice(0, 160)}`),
    }));
  });
  return violations
    .filter((v) => FAILING_IMPACTS.has(v.impact))
    .map((v) => `axe ${v.impact} ${v.id} (${v.help}):\n      ${v.nodes.join('\n      ')}`);
}

const pagesChecked = new Set();

/** The checks of every page: nothing from another host, no error logged, no serious axe
 * violation; then full-page screenshots at desktop and phone widths named `name`. */
async function checkPage(page, name) {
  await page.waitForLoadState('load');
  const problems = [...(await axeViolations(page)), ...takeProblems(page)];
  await page.screenshot({ path: join(SHOTS, `${name}-desktop.png`), fullPage: true });
  await page.setViewportSize(PHONE);
  await page.screenshot({ path: join(SHOTS, `${name}-phone.png`), fullPage: true });
  await page.setViewportSize(DESKTOP);
  pagesChecked.add(name);
  check(problems.length === 0, `page ${name} (${page.url()}):\n    ${problems.join('\n    ')}`);
}

/** Goes to `path`, expecting `status`, and checks the page. */
async function visit(page, path, name, status = 200) {
  const response = await page.goto(path);
  check(response?.status() === status, `GET ${path}: expected ${status}, got ${response?.status()}`);
  await checkPage(page, name);
  return response;
}

/** Clicks something that leads to another page (a link, a form's button) and waits for that
 * page to load; fails unless it answered below 400, or 4xx when a refusal is expected (a form
 * sent back with its errors). Returns the response of the page the browser ended on. */
async function follow(page, locator, { refused = false } = {}) {
  const from = page.url();
  // Together, so that a click that fails leaves no navigation wait behind to fail unhandled.
  const [response] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), locator.click()]);
  const status = response?.status() ?? 0;
  const ok = refused ? status >= 400 && status < 500 : status > 0 && status < 400;
  if (!ok) {
    const heading = await page.locator('h1').first().innerText().catch(() => '');
    throw new Failure(`from ${from}, ${response?.request().method()} ${page.url()} answered ${status} ("${heading}"), expected ${refused ? '4xx' : 'below 400'}`);
  }
  return response;
}

/** Reloads the page until `condition(page)` holds (derived views converge), for up to
 * CONVERGE_MS. */
async function reloadUntil(page, what, condition) {
  let first = true;
  await eventually(what, async () => {
    if (!first) await page.reload();
    first = false;
    return condition(page);
  });
}

/** The texts of the elements matching `selector`. */
function texts(page, selector) {
  return page.locator(selector).allInnerTexts();
}

/** The id at the end of the page's address (`/movies/{id}`). */
function idOf(page, kind) {
  const match = new URL(page.url()).pathname.match(new RegExp(`^/${kind}/([^/]+)$`));
  check(match, `expected to be on a /${kind}/{id} page, am on ${page.url()}`);
  return match[1];
}

function header(page) {
  return page.locator('header.site');
}

async function assertSignedIn(page) {
  const nav = header(page);
  check(await nav.getByRole('link', { name: 'Watch list' }).isVisible(), `signed in: no "Watch list" link on ${page.url()}`);
  check(await nav.locator('form#logout-form').getByRole('button', { name: 'Log out' }).isVisible(), `signed in: no "Log out" button on ${page.url()}`);
  check((await nav.getByRole('link', { name: 'Log in' }).count()) === 0, `signed in: still a "Log in" link on ${page.url()}`);
}

async function assertSignedOut(page) {
  const nav = header(page);
  check(await nav.getByRole('link', { name: 'Log in' }).isVisible(), `signed out: no "Log in" link on ${page.url()}`);
  check(await nav.getByRole('link', { name: 'Sign up' }).isVisible(), `signed out: no "Sign up" link on ${page.url()}`);
  check((await nav.locator('form#logout-form').count()) === 0, `signed out: still a logout form on ${page.url()}`);
}

/** The signed-in user's id, from the header's "My reviews" link (`/users/{id}`). */
async function myId(page) {
  const href = await header(page).getByRole('link', { name: 'My reviews' }).getAttribute('href');
  const match = href?.match(/^\/users\/([^/?#]+)$/);
  check(match, `"My reviews" should link to /users/{id}, links to ${href}`);
  return match[1];
}

async function logOut(page) {
  await follow(page, header(page).locator('form#logout-form').getByRole('button', { name: 'Log out' }));
  await assertSignedOut(page);
}

async function logIn(page, email, password, { refused = false } = {}) {
  await visit(page, '/login', 'login');
  const form = page.locator('form#login-form');
  await form.locator('[name=email]').fill(email);
  await form.locator('[name=password]').fill(password);
  return follow(page, form.getByRole('button', { name: 'Log in' }), { refused });
}

/** Signs up through /signup (the person's name, a unique e-mail) and lands signed in on `/`. */
async function signUp(page, label, shot = 'signup') {
  const person = { name: `${label} ${TAG}`, email: `${label.toLowerCase()}-${TAG}@example.com`, password: PASSWORD };
  await visit(page, '/signup', shot);
  const form = page.locator('form#signup-form');
  await form.locator('#name').fill(person.name);
  await form.locator('#email').fill(person.email);
  await form.locator('#password').fill(person.password);
  await follow(page, form.getByRole('button', { name: 'Sign up' }));
  check(new URL(page.url()).pathname === '/', `after signing up: expected /, am on ${page.url()}`);
  await assertSignedIn(page);
  person.id = await myId(page);
  return person;
}

/** The `li` of `ul.reviews` written by `name`. */
function reviewBy(page, name) {
  return page.locator('ul.reviews > li').filter({ has: page.getByRole('link', { name, exact: true }) });
}

/** True when the picture `img` loaded from this server at a size of its own. */
async function pictureShown(img) {
  if ((await img.count()) !== 1) return false;
  const facts = await img.evaluate((el) => ({
    src: el.currentSrc,
    complete: el.complete,
    natural: el.naturalWidth,
    width: el.getAttribute('width'),
    height: el.getAttribute('height'),
  }));
  check(new URL(facts.src).origin === ORIGIN, `picture from another host: ${facts.src}`);
  check(Number(facts.width) > 0 && Number(facts.height) > 0, `picture without width and height: ${JSON.stringify(facts)}`);
  return facts.complete && facts.natural > 0;
}

// ---------------------------------------------------------------------------------------
// The scenarios.

async function icon(page) {
  await visit(page, '/', 'home');
  const problems = await iconProblems(page);
  check(problems.length === 0, problems.join('\n    '));
}

async function visitor(page, { genre, actor, movie, reviewer }) {
  await visit(page, '/', 'home');
  await assertSignedOut(page);
  check((await page.locator('.cards > li.card').count()) > 0, 'home: no movie cards');

  await follow(page, header(page).getByRole('link', { name: 'Top rated' }));
  await checkPage(page, 'top-rated');
  const shown = await texts(page, '.cards > li.card .title');
  check(shown.length > 0, 'top rated: no movie cards');
  const top = await apiOk(200, 'GET', `/movies/top-rated?limit=${shown.length}`);
  if (top.items.some((m) => m.id === movie.id)) {
    check(shown.includes(movie.title), `top rated: the API ranks "${movie.title}" among ${shown.length}, the page shows ${shown}`);
  }

  await follow(page, header(page).getByRole('link', { name: 'Genres' }));
  await checkPage(page, 'genres');
  await follow(page, page.getByRole('link', { name: genre, exact: true }));
  await checkPage(page, 'genre');
  check((await texts(page, '.cards > li.card .title')).includes(movie.title), `genre ${genre}: "${movie.title}" missing`);

  await page.goto('/');
  await page.getByLabel('Search movies and actors').fill(`lantern ${TAG}`);
  await follow(page, page.getByRole('search').getByRole('button', { name: 'Search' }));
  check(new URL(page.url()).pathname === '/search', `search: am on ${page.url()}`);
  await checkPage(page, 'search');
  await follow(page, page.getByRole('link', { name: movie.title }));

  check(idOf(page, 'movies') === movie.id, `the search result led to ${page.url()}`);
  await checkPage(page, 'movie');
  check((await page.locator('h1').innerText()).includes(movie.title), 'movie page: title missing from h1');
  check(await pictureShown(page.locator('img.picture')), 'movie page: the poster did not load');
  const castCard = page.locator('.cards > li.card').filter({ hasText: actor.name });
  check(await pictureShown(castCard.locator('img')), 'movie page: the cast photo did not load');
  const review = reviewBy(page, reviewer.name);
  check((await review.locator('p.comment').innerText()) === 'Quiet, patient and beautifully lit.', 'movie page: the review comment');
  check(await page.getByRole('link', { name: 'Log in to review' }).isVisible(), 'movie page signed out: no "Log in to review" link');
  check((await page.locator('form#review-form').count()) === 0, 'movie page signed out: a review form');

  await follow(page, castCard.getByRole('link'));
  check(idOf(page, 'actors') === actor.id, `the cast entry led to ${page.url()}`);
  await checkPage(page, 'actor');
  check(await pictureShown(page.locator('img.picture')), 'actor page: the photo did not load');
  check((await texts(page, '.cards > li.card .title')).includes(movie.title), 'actor page: the filmography lacks the movie');

  await page.goto(`/movies/${movie.id}`);
  await follow(page, review.getByRole('link', { name: reviewer.name }));
  check(idOf(page, 'users') === reviewer.id, `the reviewer's name led to ${page.url()}`);
  await checkPage(page, 'user');
  check((await texts(page, 'ul.reviews > li p.comment')).includes('Quiet, patient and beautifully lit.'), "user page: the review");
}

async function account(page, { movie }) {
  const person = await signUp(page, 'Sam');
  await checkPage(page, 'home-signed-in');
  await logOut(page);
  await logIn(page, person.email, person.password);
  await assertSignedIn(page);
  check((await myId(page)) === person.id, 'logged in as someone else');

  // A review: written, edited in the same form, deleted.
  await visit(page, `/movies/${movie.id}`, 'movie-signed-in');
  let form = page.locator('form#review-form');
  await form.locator('[name=score]').fill('7');
  await form.locator('[name=comment]').fill('Slow at first, then gripping.');
  await follow(page, form.getByRole('button', { name: 'Save review' }));
  await reloadUntil(page, 'the new review shows on the movie page', async (p) =>
    (await reviewBy(p, person.name).locator('p.comment').allInnerTexts()).includes('Slow at first, then gripping.'));
  await checkPage(page, 'movie-reviewed');
  form = page.locator('form#review-form');
  check((await form.locator('[name=score]').inputValue()) === '7', 'the review form is not prefilled with the score');
  check((await form.locator('[name=comment]').inputValue()) === 'Slow at first, then gripping.', 'the review form is not prefilled with the comment');
  await form.locator('[name=score]').fill('9');
  await form.locator('[name=comment]').fill('Better the second time.');
  await follow(page, form.getByRole('button', { name: 'Save review' }));
  await reloadUntil(page, 'the edited review shows on the movie page', async (p) => {
    const mine = reviewBy(p, person.name);
    return (await mine.count()) === 1 &&
      (await mine.innerText()).includes('9/10') &&
      (await mine.locator('p.comment').innerText()) === 'Better the second time.';
  });
  const stored = await apiOk(200, 'GET', `/movies/${movie.id}/reviews/${person.id}`);
  check(stored.score === 9 && stored.comment === 'Better the second time.', `the API has ${JSON.stringify(stored)}`);
  await follow(page, page.locator('form#delete-review-form').getByRole('button', { name: 'Delete review' }));
  await reloadUntil(page, 'the deleted review leaves the movie page', async (p) => (await reviewBy(p, person.name).count()) === 0);
  await apiOk(404, 'GET', `/movies/${movie.id}/reviews/${person.id}`);
  check((await page.locator('form#delete-review-form').count()) === 0, 'a delete-review form without a review');

  // The watch list: added, seen on /watchlist, removed there.
  await follow(page, page.locator('form#watchlist-form').getByRole('button', { name: 'Add to watch list' }));
  await reloadUntil(page, 'the movie page offers "Remove from watch list"', (p) =>
    p.locator('form#watchlist-form').getByRole('button', { name: 'Remove from watch list' }).isVisible());
  await follow(page, header(page).getByRole('link', { name: 'Watch list' }));
  check(new URL(page.url()).pathname === '/watchlist', `the header's "Watch list" led to ${page.url()}`);
  await checkPage(page, 'watchlist');
  const card = page.locator('.cards > li.card').filter({ has: page.locator('.title', { hasText: movie.title }) });
  check((await card.count()) === 1, `watch list: "${movie.title}" missing: ${await texts(page, '.cards .title')}`);
  await follow(page, card.locator('form.watchlist-remove').getByRole('button', { name: 'Remove' }));
  await reloadUntil(page, 'the removed movie leaves /watchlist', async (p) => {
    if (new URL(p.url()).pathname !== '/watchlist') await p.goto('/watchlist');
    return (await card.count()) === 0;
  });
  await checkPage(page, 'watchlist-empty');
  await logOut(page);

  // Signed out, /watchlist asks to log in first and comes back after it.
  await page.goto('/watchlist');
  const away = new URL(page.url());
  check(away.pathname === '/login' && away.searchParams.get('next') === '/watchlist',
    `signed out, /watchlist should lead to /login?next=/watchlist, led to ${page.url()}`);
  const login = page.locator('form#login-form');
  await login.locator('[name=email]').fill(person.email);
  await login.locator('[name=password]').fill(person.password);
  await follow(page, login.getByRole('button', { name: 'Log in' }));
  check(new URL(page.url()).pathname === '/watchlist', `logging in from /login?next=/watchlist led to ${page.url()}`);
  await logOut(page);
}

async function escaping(page, { movie }) {
  const person = await signUp(page, 'Eve', 'signup-eve');
  await page.goto(`/movies/${movie.id}`);
  const form = page.locator('form#review-form');
  await form.locator('[name=score]').fill('3');
  await form.locator('[name=comment]').fill(XSS_COMMENT);
  await follow(page, form.getByRole('button', { name: 'Save review' }));
  const assertText = async (where) => {
    const comment = reviewBy(page, person.name).locator('p.comment');
    check((await comment.count()) === 1, `${where}: the review's comment is missing`);
    check((await comment.textContent()) === XSS_COMMENT, `${where}: the comment reads ${await comment.textContent()}`);
    check((await comment.locator('b, script').count()) === 0, `${where}: the comment's markup became elements`);
    check((await page.evaluate(() => window.__xss)) === undefined, `${where}: the comment's script ran`);
  };
  await reloadUntil(page, 'the review shows on the movie page', async (p) => (await reviewBy(p, person.name).count()) === 1);
  await assertText('movie page');
  await checkPage(page, 'movie-escaped');
  await page.goto(`/users/${person.id}`);
  await reloadUntil(page, "the review shows on the user's page", async (p) => (await p.locator('ul.reviews > li p.comment').count()) === 1);
  const comment = page.locator('ul.reviews > li p.comment');
  check((await comment.textContent()) === XSS_COMMENT, `user page: the comment reads ${await comment.textContent()}`);
  check((await comment.locator('b, script').count()) === 0, "user page: the comment's markup became elements");
  check((await page.evaluate(() => window.__xss)) === undefined, "user page: the comment's script ran");
  await checkPage(page, 'user-escaped');
}

async function formErrors(page, { reviewer }) {
  await visit(page, '/signup', 'signup');
  const form = page.locator('form#signup-form');
  await form.locator('#name').fill(`Kept Name ${TAG}`);
  await form.locator('#email').fill('not-an-email');
  await form.locator('#password').fill('short');
  await follow(page, form.getByRole('button', { name: 'Sign up' }), { refused: true });
  await checkPage(page, 'signup-errors');
  for (const field of ['email', 'password']) {
    const message = page.locator(`p.field-error#${field}-error`);
    check(await message.isVisible(), `sign-up: no message next to ${field}`);
    check((await message.innerText()).trim().length > 0, `sign-up: the message next to ${field} is empty`);
    const input = page.locator(`form#signup-form #${field}`);
    check((await input.getAttribute('aria-invalid')) === 'true', `sign-up: ${field} is not aria-invalid`);
    check((await input.getAttribute('aria-describedby'))?.split(/\s+/).includes(`${field}-error`), `sign-up: ${field} is not described by its message`);
    // The message stands right after its input.
    check(await input.evaluate((el, id) => el.nextElementSibling?.id === id, `${field}-error`), `sign-up: the ${field} message is not right after its input`);
  }
  check((await page.locator('form#signup-form #name').inputValue()) === `Kept Name ${TAG}`, 'sign-up: the typed name was not kept');
  check((await page.locator('#name-error').count()) === 0, 'sign-up: a message next to the valid name');
  await assertSignedOut(page);

  await logIn(page, reviewer.email, 'not the password', { refused: true });
  await checkPage(page, 'login-error');
  const error = page.locator('form#login-form p.form-error[role=alert], p.form-error[role=alert]').first();
  check(await error.isVisible(), 'log-in with a wrong password: no form error');
  check((await error.innerText()).trim().length > 0, 'log-in with a wrong password: an empty form error');
  check(new URL(page.url()).pathname === '/login', `log-in with a wrong password led to ${page.url()}`);
  check((await page.locator('form#login-form [name=email]').inputValue()) === reviewer.email, 'log-in: the typed e-mail was not kept');
  await assertSignedOut(page);
}

async function csrf(page, context, { movie }) {
  const person = await signUpByApi('carl');
  await logIn(page, person.email, PASSWORD);
  await assertSignedIn(page);
  await visit(page, `/movies/${movie.id}`, 'movie-csrf');
  const form = page.locator('form#review-form');
  const action = new URL(await form.getAttribute('action'), page.url()).href;
  const token = await form.locator('input[type=hidden][name=csrf]').inputValue();
  check(token.length > 0, 'the review form has no CSRF token');
  for (const [what, fields] of [
    ['without a csrf field', { score: '5', comment: 'forged' }],
    ['with a wrong csrf token', { score: '5', comment: 'forged', csrf: `x${token}` }],
  ]) {
    // context.request sends the session cookie, as a forged cross-site form would.
    const answer = await context.request.post(action, { form: fields, maxRedirects: 0 });
    check(answer.status() === 403, `a review POST ${what}: expected 403, got ${answer.status()}`);
    check((answer.headers()['content-type'] ?? '').startsWith('text/html'), `the 403 ${what} is not an HTML page`);
  }
  const logout = new URL(await header(page).locator('form#logout-form').getAttribute('action'), page.url()).href;
  const refused = await context.request.post(logout, { form: {}, maxRedirects: 0 });
  check(refused.status() === 403, `a logout POST without a csrf field: expected 403, got ${refused.status()}`);
  // And the browser's own form, its token taken out: the refusal is a page of the site.
  await page.locator('form#review-form input[name=csrf]').evaluate((input) => input.remove());
  await form.locator('[name=score]').fill('4');
  await form.locator('[name=comment]').fill('forged in the page');
  const refusal = await follow(page, form.getByRole('button', { name: 'Save review' }), { refused: true });
  check(refusal.status() === 403, `the review form without its token: expected 403, got ${refusal.status()}`);
  await checkPage(page, 'csrf-refused');
  await sleep(2500); // longer than the contract's convergence: a write that slipped through would show
  await apiOk(404, 'GET', `/movies/${movie.id}/reviews/${person.id}`);
  await page.goto(`/movies/${movie.id}`);
  await assertSignedIn(page);

  // The same request with the page's token goes through: the 403s were the token's doing.
  const accepted = await context.request.post(action, { form: { score: '5', comment: 'with the token', csrf: token }, maxRedirects: 0 });
  check(accepted.status() < 400, `a review POST with the page's csrf token: got ${accepted.status()}`);
  const written = await apiOk(200, 'GET', `/movies/${movie.id}/reviews/${person.id}`);
  check(written.score === 5, `the review POST with the token wrote ${JSON.stringify(written)}`);
  await apiOk(204, 'DELETE', `/movies/${movie.id}/reviews/${person.id}`, { token: person.token });
}

async function admin(page) {
  await page.goto('/admin');
  check(new URL(page.url()).pathname === '/admin/login', `signed out, /admin should lead to /admin/login, led to ${page.url()}`);
  await checkPage(page, 'admin-login');
  await page.locator('form#admin-login-form [name=token]').fill(ADMIN_TOKEN);
  await follow(page, page.locator('form#admin-login-form').getByRole('button', { name: 'Log in as admin' }));
  if (new URL(page.url()).pathname !== '/admin') await page.goto('/admin');
  check(new URL(page.url()).pathname === '/admin', `the admin log-in led to ${page.url()}`);
  check(await header(page).getByRole('link', { name: 'Admin' }).isVisible(), 'admin: no "Admin" link in the header');
  check(await header(page).locator('form#logout-form').isVisible(), 'admin: no logout form in the header');
  await checkPage(page, 'admin');

  // An actor, then the actor's photo from the actor's page.
  const actorName = `Bruno Vale ${TAG}`;
  let form = page.locator('form#add-actor-form');
  await form.locator('[name=name]').fill(actorName);
  await form.locator('[name=date_of_birth]').fill('1975-09-30');
  await form.locator('[name=bio]').fill('Character actor, mostly sailors.');
  await follow(page, form.getByRole('button', { name: 'Add actor' }));
  const actorId = idOf(page, 'actors');
  check((await page.locator('h1').innerText()).includes(actorName), 'the new actor page lacks the name');
  form = page.locator('form#photo-form');
  await form.locator('input[type=file][name=photo]').setInputFiles({ name: 'bruno.png', mimeType: 'image/png', buffer: png(180, 240) });
  await follow(page, form.getByRole('button', { name: 'Upload photo' }));
  if (new URL(page.url()).pathname !== `/actors/${actorId}`) await page.goto(`/actors/${actorId}`);
  check(await pictureShown(page.locator('img.picture')), 'the uploaded photo is not on the actor page');
  await checkPage(page, 'admin-actor');

  // A movie with genres and that actor in the cast, then its poster from /admin.
  const title = `Harbour Lights ${TAG}`;
  const genre = `adm-${TAG}`;
  await page.goto('/admin');
  form = page.locator('form#add-movie-form');
  await form.locator('[name=title]').fill(title);
  await form.locator('[name=release_year]').fill('2023');
  await form.locator('[name=genres]').fill(`${genre}, Mystery`);
  await form.locator('[name=overview]').fill('Fog, a harbour, and a missing boat.');
  await form.locator('[name=cast_actor_1]').fill(actorId);
  await form.locator('[name=cast_role_1]').fill('Harbour master');
  await follow(page, form.getByRole('button', { name: 'Add movie' }));
  const movieId = idOf(page, 'movies');
  const created = await apiOk(200, 'GET', `/movies/${movieId}`);
  check(created.title === title, `the movie's title: ${created.title}`);
  check(JSON.stringify([...created.genres].sort()) === JSON.stringify([genre, 'mystery'].sort()), `the movie's genres: ${created.genres}`);
  check(created.actors.length === 1 && created.actors[0].id === actorId && created.actors[0].role === 'Harbour master', `the movie's cast: ${JSON.stringify(created.actors)}`);
  await page.goto('/admin');
  form = page.locator('form#poster-form');
  await form.locator('[name=movie_id]').fill(movieId);
  await form.locator('input[type=file][name=poster]').setInputFiles({ name: 'harbour.png', mimeType: 'image/png', buffer: png(300, 450) });
  await follow(page, form.getByRole('button', { name: 'Upload poster' }));
  await page.goto(`/movies/${movieId}`);
  check(await pictureShown(page.locator('img.picture')), 'the uploaded poster is not on the movie page');
  const cast = page.locator('.cards > li.card').filter({ hasText: actorName });
  await reloadUntil(page, "the actor's photo shows in the cast", () => pictureShown(cast.locator('img')));
  check((await page.locator('p.meta').first().innerText()).includes(genre), 'the movie page lacks its genre');
  await checkPage(page, 'admin-movie');

  // Deleted: the movie from its page, the actor from /admin.
  await follow(page, page.locator('form#delete-movie-form').getByRole('button', { name: 'Delete movie' }));
  await apiOk(404, 'GET', `/movies/${movieId}`);
  await visit(page, `/movies/${movieId}`, 'not-found', 404);
  await page.goto('/admin');
  form = page.locator('form#delete-actor-form');
  await form.locator('[name=actor_id]').fill(actorId);
  await follow(page, form.getByRole('button', { name: 'Delete actor' }));
  await apiOk(404, 'GET', `/actors/${actorId}`);
  const goneActor = await page.goto(`/actors/${actorId}`);
  check(goneActor?.status() === 404, `the deleted actor's page answers ${goneActor?.status()}`);
  await page.goto('/admin'); // error pages do not show the account menu
  await logOut(page);
}

// ---------------------------------------------------------------------------------------

async function main() {
  const started = Date.now();
  console.log(`site.test: ${BASE} (deployment ${DEPLOYMENT}), run ${TAG}, screenshots in ${SHOTS}`);
  // The folder shows one run: no screenshot of an earlier run's failure is left beside them.
  rmSync(SHOTS, { recursive: true, force: true });
  mkdirSync(SHOTS, { recursive: true });
  let catalogue;
  try {
    catalogue = await makeCatalogue();
  } catch (error) {
    console.error(`site.test: FAILED making the test data through the API: ${error.stack ?? error}`);
    process.exit(1);
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const results = [];
  const scenarios = [
    ['the site has an icon', (page) => icon(page)],
    ['visitor browses', (page) => visitor(page, catalogue)],
    ['account: sign up, log in, review, watch list', (page) => account(page, catalogue)],
    ['a comment with markup shows as text', (page) => escaping(page, catalogue)],
    ['form errors next to their fields', (page) => formErrors(page, catalogue)],
    ['a form POST without the CSRF token is refused', (page, context) => csrf(page, context, catalogue)],
    ['admin adds, illustrates and deletes', (page) => admin(page)],
  ];
  try {
    for (const [name, run] of scenarios) {
      const context = await browser.newContext({ baseURL: BASE, viewport: DESKTOP });
      context.setDefaultTimeout(ACTION_TIMEOUT_MS);
      const page = await context.newPage();
      watch(page);
      const began = Date.now();
      try {
        await run(page, context);
        const left = takeProblems(page);
        check(left.length === 0, `on ${page.url()}:\n    ${left.join('\n    ')}`);
        results.push({ name, ok: true, ms: Date.now() - began });
        console.log(`  ok    ${name} (${Date.now() - began} ms)`);
      } catch (error) {
        const shot = join(SHOTS, `failed-${results.length + 1}.png`);
        await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
        const message = error instanceof Failure ? error.message : error.stack ?? String(error);
        results.push({ name, ok: false, ms: Date.now() - began, message });
        console.log(`  FAIL  ${name} (${Date.now() - began} ms) at ${page.url()} (screenshot ${shot})\n    ${message}`);
      } finally {
        await context.close();
      }
    }
  } finally {
    await browser.close();
  }
  const failed = results.filter((r) => !r.ok);
  console.log(
    `site.test: ${results.length - failed.length} of ${results.length} scenarios passed, ` +
      `${pagesChecked.size} pages checked (axe, hosts, console) and photographed, ` +
      `${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  if (failed.length) {
    console.log(`site.test: FAILED: ${failed.map((r) => r.name).join('; ')}`);
    process.exit(1);
  }
}

await main();
