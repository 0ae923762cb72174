import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkData } from '../src/domain/data-rules.ts';

const rules = { maxBytes: 200, maxDepth: 3 };

/** Builds `levels` nested objects: {a:{a:{...}}}. */
function nested(levels: number, leaf: unknown = 1): unknown {
  let v = leaf;
  for (let i = 0; i < levels; i++) v = { a: v };
  return v;
}

describe('checkData', () => {
  it('passes ordinary data up to the depth and size limits', () => {
    assert.equal(checkData({}, rules), undefined);
    assert.equal(checkData({ n: 1, s: 'x', b: true, z: null, list: [1, 'two', { k: 3 }] }, rules), undefined);
    assert.equal(checkData(nested(3), rules), undefined);
    assert.equal(checkData({ a: [[1]] }, rules), undefined, 'data, an array and an array: three levels');
    assert.equal(checkData({ 'key with $ inside': 1, ünïcode: 'ok', 'a:b': 2 }, rules), undefined);
    const justFits = { s: 'x'.repeat(200 - '{"s":""}'.length) };
    assert.equal(checkData(justFits, rules), undefined);
  });

  it('refuses operator, path and prototype keys at every depth, naming where', () => {
    const cases: [unknown, string][] = [
      [{ $where: 1 }, '/$where'],
      [{ ok: { $gt: 1 } }, '/ok/$gt'],
      [{ ok: [{ fine: 1 }, { 'a.b': 1 }] }, '/ok/1/a.b'],
      [JSON.parse('{"ok":{"__proto__":{"polluted":true}}}'), '/ok/__proto__'],
      [{ ok: { constructor: { x: 1 } } }, '/ok/constructor'],
      [{ prototype: 1 }, '/prototype'],
      [{ ok: { '': 1 } }, '/ok/'],
      [{ ok: { ['k'.repeat(129)]: 1 } }, `/ok/${'k'.repeat(129)}`],
      [{ 'a/b': { 'c~d': { $x: 1 } } }, '/a~1b/c~0d/$x'],
    ];
    for (const [data, path] of cases) {
      const found = checkData(data, rules);
      assert.ok(found, JSON.stringify(data));
      assert.equal(found.path, path);
      assert.equal(typeof found.message, 'string');
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'nothing reached Object.prototype');
  });

  it('refuses nesting past the limit, however deep, without overflowing the stack', () => {
    assert.deepEqual(checkData(nested(4), rules)?.path, '/a/a/a');
    assert.deepEqual(checkData({ a: [[[1]]] }, rules)?.path, '/a/0/0');
    let deep: unknown = 1;
    for (let i = 0; i < 200_000; i++) deep = [deep];
    assert.match(checkData({ deep }, rules)!.message, /3 levels/);
  });

  it('refuses data over the size limit, counting UTF-8 bytes', () => {
    const found = checkData({ s: 'x'.repeat(200) }, rules);
    assert.equal(found?.path, '');
    assert.match(found!.message, /200 bytes/);
    assert.ok(checkData({ s: '\u00e9'.repeat(100) }, rules), '100 two-byte characters are over 200 bytes');
  });
});
