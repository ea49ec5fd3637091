import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { at, bool, integer, list, preview, record, stringMap, text } from './data.ts';

describe('readers for untrusted JSON never throw and read a mistyped field as absent', () => {
  it('record: only plain objects', () => {
    expect(record({ a: 1 })).toEqual({ a: 1 });
    for (const v of [null, undefined, [], 'x', 3, true]) expect(record(v)).toBeUndefined();
  });
  it('list: only arrays, anything else is empty', () => {
    expect(list([1, 2])).toEqual([1, 2]);
    for (const v of [null, undefined, {}, 'ab', 3]) expect(list(v)).toEqual([]);
  });
  it('text, integer, bool', () => {
    expect(text('a')).toBe('a');
    expect(text(1)).toBeUndefined();
    expect(integer(5)).toBe(5);
    expect(integer(5.5)).toBeUndefined();
    expect(integer('5')).toBeUndefined();
    expect(integer(2 ** 60)).toBeUndefined();
    expect(bool(true)).toBe(true);
    expect(bool('true')).toBe(false);
    expect(bool(1)).toBe(false);
  });
  it('stringMap keeps string values only', () => {
    expect(stringMap({ a: 'x', b: 1, c: null, d: ['y'] })).toEqual({ a: 'x' });
    expect(stringMap(['a'])).toEqual({});
  });
  it('at follows a path and stops at the first non-object', () => {
    expect(at({ a: { b: { c: 1 } } }, 'a', 'b', 'c')).toBe(1);
    expect(at({ a: 'x' }, 'a', 'b')).toBeUndefined();
    expect(at({ a: [{ b: 1 }] }, 'a', '0', 'b')).toBeUndefined();
  });
  it('property: no reader throws on any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.array(fc.string(), { maxLength: 4 }), (v, path) => {
        record(v);
        list(v);
        text(v);
        integer(v);
        bool(v);
        stringMap(v);
        at(v, ...path);
      }),
    );
  });
});

describe('preview', () => {
  it('quotes what a request held, short, and never throws', () => {
    expect(preview('Pod')).toBe('"Pod"');
    expect(preview(undefined)).toBe('undefined');
    expect(preview({ toString: 1 })).toBe('{"toString":1}');
    expect(preview('x'.repeat(1000))).toHaveLength(80);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(preview(cyclic)).toBe('object');
  });
});
