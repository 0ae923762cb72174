// Every relative link and every #anchor in README.md and docs/*.md must resolve: the file (or
// folder) exists inside the repository, and an anchor names a heading of the target Markdown
// file as GitHub slugs it (lowercase; punctuation dropped but hyphens and underscores; each
// space a hyphen; a repeated heading gets -1, -2, ...). No servers: it only reads files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The pages checked: README.md and every Markdown file of docs/. */
function pages(base: string): string[] {
  const docs = join(base, 'docs');
  const inDocs = existsSync(docs)
    ? readdirSync(docs)
        .filter((f) => f.endsWith('.md'))
        .sort()
        .map((f) => `docs/${f}`)
    : [];
  return ['README.md', ...inDocs];
}

const FENCE = /^ {0,3}(`{3,}|~{3,})/;

/** The lines of a Markdown file with fenced code blocks blanked (so their `#` lines are no headings). */
function proseLines(text: string): string[] {
  const lines = text.split(/\r?\n/);
  let fence: string | undefined;
  return lines.map((line) => {
    const m = FENCE.exec(line);
    if (fence !== undefined) {
      if (m && m[1]![0] === fence[0] && m[1]!.length >= fence.length && line.trim() === m[1]) fence = undefined;
      return '';
    }
    if (m && !(m[1]![0] === '`' && line.slice(line.indexOf(m[1]!) + m[1]!.length).includes('`'))) {
      fence = m[1];
      return '';
    }
    return line;
  });
}

/** GitHub's slug of one heading's text (github-slugger, on the rendered text). */
function githubSlug(heading: string): string {
  const rendered = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links and images: their text
    .replace(/<[^>]+>/g, '') // inline HTML tags
    .replace(/(^|[^\p{L}\p{N}_])_+([^_]+?)_+(?=[^\p{L}\p{N}_]|$)/gu, '$1$2'); // _emphasis_
  return rendered
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors a Markdown file offers: its headings' slugs, made unique as GitHub does, and HTML ids. */
function anchorsOf(text: string): Set<string> {
  const occurrences = new Map<string, number>();
  const anchors = new Set<string>();
  const add = (heading: string) => {
    const base = githubSlug(heading);
    let slug = base;
    while (occurrences.has(slug)) {
      const n = occurrences.get(base)! + 1;
      occurrences.set(base, n);
      slug = `${base}-${n}`;
    }
    occurrences.set(slug, 0);
    anchors.add(slug);
  };
  const lines = proseLines(text);
  lines.forEach((line, i) => {
    const atx = /^ {0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/.exec(line);
    if (atx) {
      add(atx[1] ?? '');
      return;
    }
    // Setext: a paragraph line underlined with === or ---.
    const previous = lines[i - 1];
    if (
      /^ {0,3}(=+|-+)[ \t]*$/.test(line) &&
      previous !== undefined &&
      previous.trim() !== '' &&
      !/^ {0,3}([#>|]|[-*+] |\d+[.)] )/.test(previous) &&
      !/^ {4}/.test(previous) &&
      (i < 2 || (lines[i - 2] ?? '').trim() === '')
    )
      add(previous);
  });
  for (const m of text.matchAll(/<[a-z][^>]*\s(?:id|name)="([^"]+)"/gi)) anchors.add(m[1]!);
  return anchors;
}

/** Every link target of a Markdown file, outside code: inline links, images and reference definitions. */
function linksOf(text: string): string[] {
  const prose = proseLines(text)
    .join('\n')
    .replace(/(`+)(?:(?!\n[ \t]*\n)[\s\S])*?(?<!`)\1(?!`)/g, ''); // code spans, within a paragraph
  const targets: string[] = [];
  const inline = /!?\[((?:[^[\]]|\[[^\]]*\])*)\]\(\s*(<[^>]*>|(?:[^\s()]|\([^\s)]*\))+)(?:\s+(?:"[^"]*"|'[^']*'|\([^)]*\)))?\s*\)/g;
  for (const m of prose.matchAll(inline)) targets.push(m[2]!.replace(/^<|>$/g, ''));
  for (const m of prose.matchAll(/^ {0,3}\[[^\]]+\]:\s*(\S+)/gm)) targets.push(m[1]!.replace(/^<|>$/g, ''));
  return targets;
}

/** The broken links of these files (paths relative to base), one line each. */
function brokenLinks(base: string, files: readonly string[]): string[] {
  const anchorCache = new Map<string, Set<string>>();
  const anchors = (path: string) => {
    if (!anchorCache.has(path)) anchorCache.set(path, anchorsOf(readFileSync(path, 'utf8')));
    return anchorCache.get(path)!;
  };
  const problems: string[] = [];
  for (const file of files) {
    const from = join(base, file);
    for (const target of linksOf(readFileSync(from, 'utf8'))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) continue; // https:, mailto:, ...
      const hash = target.indexOf('#');
      const pathPart = hash === -1 ? target : target.slice(0, hash);
      const anchor = hash === -1 ? undefined : target.slice(hash + 1);
      let to: string;
      try {
        to = pathPart === '' ? from : resolve(dirname(from), decodeURIComponent(pathPart));
      } catch {
        problems.push(`${file}: (${target}) is not a valid URL path`);
        continue;
      }
      const inside = relative(base, to);
      if (inside.startsWith('..') || isAbsolute(inside)) {
        problems.push(`${file}: (${target}) leaves the repository`);
        continue;
      }
      if (!existsSync(to)) {
        problems.push(`${file}: (${target}) names ${inside}, which does not exist`);
        continue;
      }
      if (anchor === undefined) continue;
      const wanted = decodeURIComponent(anchor);
      if (statSync(to).isFile() && to.endsWith('.md')) {
        if (!anchors(to).has(wanted)) problems.push(`${file}: (${target}): ${inside} has no heading with the anchor #${wanted}`);
      } else if (!/^L\d+(-L\d+)?$/.test(wanted)) {
        problems.push(`${file}: (${target}): #${wanted} in ${inside}, which is not a Markdown file`);
      }
    }
  }
  return problems;
}

test('GitHub slugs: punctuation but hyphens and underscores dropped, spaces to hyphens, repeats numbered', () => {
  assert.equal(githubSlug('Sending many at once: `POST /notifications/batch`'), 'sending-many-at-once-post-notificationsbatch');
  assert.equal(githubSlug('MongoDB: replica sets, sharding, write concern'), 'mongodb-replica-sets-sharding-write-concern');
  assert.equal(githubSlug("The scale profile's proxy"), 'the-scale-profiles-proxy');
  assert.equal(githubSlug('Profiling: `--cpu-prof`'), 'profiling---cpu-prof');
  assert.equal(githubSlug('100,000 idle connections'), '100000-idle-connections');
  assert.equal(githubSlug('Retrying safely: `Idempotency-Key`'), 'retrying-safely-idempotency-key');
  assert.equal(githubSlug('CPU µs per notification, by process'), 'cpu-µs-per-notification-by-process');
  assert.equal(githubSlug('PUSHFLOW_ENV and _FILE'), 'pushflow_env-and-_file');
  assert.equal(githubSlug('See [the API](api.md) *now*'), 'see-the-api-now');
  assert.deepEqual([...anchorsOf('# Usage\n\n## Usage\n\n### Usage\n\n## Usage 1\n')], ['usage', 'usage-1', 'usage-2', 'usage-1-1']);
  assert.deepEqual([...anchorsOf('Title\n=====\n\n```sh\n# not a heading\n```\n\n## Real ##\n')], ['title', 'real']);
});

test('a missing file, a missing anchor, a fenced heading and a link out of the repository are each caught', () => {
  const base = mkdtempSync(join(tmpdir(), 'pushflow-docs-links-'));
  try {
    mkdirSync(join(base, 'docs'));
    writeFileSync(
      join(base, 'README.md'),
      [
        '# Top',
        '',
        '## Usage',
        '',
        '## Usage',
        '',
        'Fine: [a](docs/a.md), [b](docs/a.md#first-part), [c](#usage-1), [d](#top), [e](https://example.com/x#y),',
        '[f](docs/), `[code](nowhere.md)`, [g](docs/a.md "title").',
        '',
        '```md',
        '[fenced](nowhere.md)',
        '```',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(base, 'docs/a.md'),
      [
        '# A',
        '',
        '## First part',
        '',
        '```sh',
        '# Hidden heading',
        '```',
        '',
        'Broken: [1](missing.md), [2](../README.md#usage-2), [3](#hidden-heading), [4](../../outside.md),',
        '[5](#First-part), [6](b.md).',
        '',
        '[ref]: ../README.md#nope',
      ].join('\n'),
    );
    assert.deepEqual(pages(base), ['README.md', 'docs/a.md']);
    assert.deepEqual(brokenLinks(base, ['README.md']), []);
    const problems = brokenLinks(base, ['docs/a.md']);
    assert.equal(problems.length, 7, problems.join('\n'));
    for (const [i, needle] of [
      'missing.md',
      '#usage-2',
      '#hidden-heading',
      'leaves the repository',
      '#First-part',
      'b.md',
      '#nope',
    ].entries()) {
      assert.ok(problems[i]!.includes(needle), `${needle}: ${problems[i]}`);
    }
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test('every relative link and anchor in README.md and docs/*.md resolves', () => {
  const files = pages(root);
  for (const page of [
    'docs/api.md',
    'docs/bench.md',
    'docs/cli.md',
    'docs/configuration.md',
    'docs/design.md',
    'docs/development.md',
    'docs/operations.md',
    'docs/performance.md',
  ])
    assert.ok(files.includes(page), `${page} is checked`);
  assert.ok(
    linksOf(readFileSync(join(root, 'README.md'), 'utf8')).filter((l) => l.startsWith('docs/')).length >= 8,
    'the README indexes docs/',
  );
  const problems = brokenLinks(root, files);
  assert.deepEqual(problems, [], `broken links:\n${problems.join('\n')}`);
});
