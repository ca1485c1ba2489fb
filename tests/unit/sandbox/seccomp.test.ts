import { describe, expect, it } from 'vitest';
import {
  AARCH64,
  CLONE_NAMESPACE_FLAGS,
  DENIED_SYSCALLS,
  encodeSeccompProgram,
  evaluateSeccomp,
  SECCOMP_FILTER,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_KILL_PROCESS,
  seccompProgram,
  X86_64,
} from '../../../infra/local/engine/sandbox/seccomp.ts';

const EPERM = 0x0005_0001;
const ENOSYS = 0x0005_0026;
const program = seccompProgram();
const answer = (arch: number, nr: number, arg0 = 0) => evaluateSeccomp(program, { arch, nr, arg0 });

describe('Function: seccompProgram', () => {
  it.each([
    ['x86_64', X86_64],
    ['aarch64', AARCH64],
  ])('refuses every denied syscall on %s with EPERM, clone3 with ENOSYS', (_name, table) => {
    for (const name of DENIED_SYSCALLS) {
      expect(answer(table.auditArch, table.numbers[name]), name).toBe(name === 'clone3' ? ENOSYS : EPERM);
    }
  });

  it.each([
    ['x86_64', X86_64, { read: 0, write: 1, mmap: 9, execve: 59, prlimit64: 302 }],
    ['aarch64', AARCH64, { read: 63, write: 64, mmap: 222, execve: 221, prlimit64: 261 }],
  ])('allows ordinary syscalls on %s', (_name, table, allowed) => {
    for (const [name, nr] of Object.entries(allowed)) {
      expect(answer(table.auditArch, nr), name).toBe(SECCOMP_RET_ALLOW);
    }
  });

  it('allows clone for threads and fork, refuses it with any namespace flag', () => {
    const clone = X86_64.numbers.clone;
    const threadFlags = 0x003d_0f00; // CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|CHILD_CLEARTID
    expect(answer(X86_64.auditArch, clone, threadFlags)).toBe(SECCOMP_RET_ALLOW);
    expect(answer(X86_64.auditArch, clone, 17)).toBe(SECCOMP_RET_ALLOW); // fork: SIGCHLD
    for (let bit = 0; bit < 32; bit++) {
      const flag = 2 ** bit;
      if ((CLONE_NAMESPACE_FLAGS & flag) === 0) continue;
      expect(answer(X86_64.auditArch, clone, 17 + flag), `bit ${bit}`).toBe(EPERM);
      expect(answer(AARCH64.auditArch, AARCH64.numbers.clone, 17 + flag), `bit ${bit}`).toBe(EPERM);
    }
  });

  it('kills on an unknown architecture (the i386 entry on x86_64 included) and refuses x32 syscalls', () => {
    const AUDIT_ARCH_I386 = 0x4000_0003;
    expect(answer(AUDIT_ARCH_I386, 0)).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(answer(0xc000_00f3, 0)).toBe(SECCOMP_RET_KILL_PROCESS); // riscv64
    expect(answer(X86_64.auditArch, 0x4000_0000 + 0)).toBe(ENOSYS);
    expect(answer(X86_64.auditArch, 0x4000_0000 + X86_64.numbers.keyctl)).toBe(ENOSYS);
  });

  it('keeps every jump within reach of an 8-bit offset', () => {
    for (const i of program) {
      expect(i.jt).toBeLessThan(256);
      expect(i.jf).toBeLessThan(256);
    }
  });
});

describe('Function: encodeSeccompProgram', () => {
  it('writes struct sock_filter entries of 8 bytes, little-endian', () => {
    // Act
    const bytes = encodeSeccompProgram([{ code: 0x15, jt: 1, jf: 2, k: 0xc000_003e }]);

    // Assess
    expect([...bytes]).toEqual([0x15, 0x00, 1, 2, 0x3e, 0x00, 0x00, 0xc0]);
    expect(SECCOMP_FILTER.length).toBe(program.length * 8);
  });
});
