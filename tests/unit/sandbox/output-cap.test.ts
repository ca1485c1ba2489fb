import { describe, expect, it } from 'vitest';
import { utf8SafeEnd } from '../../../sandbox-image/src/contract.ts';
import { OutputCap } from '../../../sandbox-image/src/core/output-cap.ts';

describe('Class: OutputCap', () => {
  it('keeps everything under the cap and is not truncated', () => {
    // Prepare
    const cap = new OutputCap(10);

    // Act
    cap.push(Buffer.from('abc'));
    cap.push(Buffer.from('def'));

    // Assess
    expect(cap.text()).toBe('abcdef');
    expect(cap.truncated).toBe(false);
    expect(cap.bytesSeen).toBe(6);
  });

  it('keeps exactly the first maxBytes and flags the rest as truncated', () => {
    // Prepare
    const cap = new OutputCap(5);

    // Act
    cap.push(Buffer.from('abc'));
    cap.push(Buffer.from('defgh'));
    cap.push(Buffer.from('ijk'));

    // Assess
    expect(cap.text()).toBe('abcde');
    expect(cap.truncated).toBe(true);
    expect(cap.bytesSeen).toBe(11);
  });

  it('is not truncated when the output is exactly maxBytes', () => {
    const cap = new OutputCap(4);
    cap.push(Buffer.from('abcd'));
    expect(cap.truncated).toBe(false);
    expect(cap.text()).toBe('abcd');
  });

  it('drops a multi-byte character cut at the limit instead of mangling it', () => {
    // Prepare: "é" is 2 bytes, "€" 3: a 4-byte cap ends inside the euro sign
    const cap = new OutputCap(4);

    // Act
    cap.push(Buffer.from('aé€'));

    // Assess
    expect(cap.text()).toBe('aé');
    expect(cap.truncated).toBe(true);
  });

  it('holds no more than maxBytes however much is pushed', () => {
    // Prepare
    const cap = new OutputCap(1024);
    const chunk = Buffer.alloc(64 * 1024, 0x78);

    // Act
    for (let i = 0; i < 1000; i++) cap.push(chunk);

    // Assess
    expect(Buffer.byteLength(cap.text())).toBe(1024);
    expect(cap.bytesSeen).toBe(64 * 1024 * 1000);
  });

  it('copies what it keeps, so a pooled source buffer is not retained', () => {
    // Prepare
    const source = Buffer.from('hello world');
    const cap = new OutputCap(5);

    // Act
    cap.push(source);
    source.fill(0x21);

    // Assess
    expect(cap.text()).toBe('hello');
  });

  it('rejects a negative cap', () => {
    expect(() => new OutputCap(-1)).toThrow(RangeError);
  });
});

describe('Function: utf8SafeEnd', () => {
  it.each([
    ['ascii', Buffer.from('abc'), 3],
    ['complete 2-byte', Buffer.from('aé'), 3],
    ['lead byte of 2 alone', Buffer.from([0x61, 0xc3]), 1],
    ['2 of 3 bytes', Buffer.from([0x61, 0xe2, 0x82]), 1],
    ['complete 3-byte', Buffer.from('a€'), 4],
    ['3 of 4 bytes', Buffer.from([0x61, 0xf0, 0x9f, 0x98]), 1],
    ['complete 4-byte', Buffer.from('a😀'), 5],
    ['empty', Buffer.alloc(0), 0],
    ['stray continuation bytes are left to the decoder', Buffer.from([0x80, 0x80, 0x80, 0x80]), 4],
  ])('%s', (_name, bytes, expected) => {
    expect(utf8SafeEnd(bytes)).toBe(expected);
  });
});
